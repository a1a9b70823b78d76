package main

import (
	"fmt"
	"image/color"
	"os"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// chart draws the figures of the report into one PNG: a panel per
// measurement that ran.
func (r *report) chart(path string) error {
	var panels []*plot.Plot
	if r.invoke != nil {
		panels = append(panels, r.invokeThroughput(), r.invokeLatency())
	}
	if r.saga != nil {
		panels = append(panels, r.sagaPlot())
	}
	if r.pubsub != nil {
		panels = append(panels, r.pubsubLatency())
	}
	if len(panels) == 0 {
		return nil
	}
	const cols = 2
	rows := (len(panels) + cols - 1) / cols
	img := vgimg.New(vg.Length(cols)*5.5*vg.Inch, vg.Length(rows)*4*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	grid := make([][]*plot.Plot, rows)
	for i := range grid {
		grid[i] = make([]*plot.Plot, cols)
	}
	for i, p := range panels {
		grid[i/cols][i%cols] = p
	}
	canvases := plot.Align(grid, tiles, dc)
	for i, p := range panels {
		p.Draw(canvases[i/cols][i%cols])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = vgimg.PngCanvas{Canvas: img}.WriteTo(f)
	return err
}

func bars(p *plot.Plot, names []string, groups []string, values [][]float64) {
	w := vg.Points(60 / float64(max(len(groups), 1)))
	for gi, g := range groups {
		vs := make(plotter.Values, len(names))
		for i := range names {
			vs[i] = values[gi][i]
		}
		b, err := plotter.NewBarChart(vs, w)
		if err != nil {
			continue
		}
		b.Color = plotutil.Color(gi)
		b.LineStyle.Width = 0
		b.Offset = w * vg.Length(float64(gi)-float64(len(groups)-1)/2)
		p.Add(b)
		if len(groups) > 1 {
			p.Legend.Add(g, b)
		}
	}
	p.NominalX(names...)
	top := 0.0
	for _, g := range values {
		for _, v := range g {
			top = max(top, v)
		}
	}
	// Room above the bars for the legend.
	p.Y.Min, p.Y.Max = 0, top*1.3
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
}

func (r *report) invokeThroughput() *plot.Plot {
	p := plot.New()
	p.Title.Text = "1. Service invocation: max throughput (closed loop)"
	p.Y.Label.Text = "requests/s"
	var names []string
	var vs []float64
	for _, h := range r.invoke.hops {
		names = append(names, fmt.Sprintf("(%s) %s", h.key, h.label))
		vs = append(vs, median(h.maxRPS))
	}
	bars(p, names, []string{"max req/s"}, [][]float64{vs})
	return p
}

func (r *report) invokeLatency() *plot.Plot {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("1. Service invocation: latency at %d req/s", r.invoke.fixedRate)
	p.Y.Label.Text = "ms"
	var names []string
	vals := make([][]float64, 3)
	for _, h := range r.invoke.hops {
		names = append(names, "("+h.key+")")
		vals[0] = append(vals[0], msf(medianDur(h.p50)))
		vals[1] = append(vals[1], msf(medianDur(h.p90)))
		vals[2] = append(vals[2], msf(medianDur(h.p99)))
	}
	bars(p, names, []string{"p50", "p90", "p99"}, vals)
	return p
}

func (r *report) pubsubLatency() *plot.Plot {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("3. Pub/sub: publish → handler at %d msg/s", r.pubsub.fixedRate)
	p.Y.Label.Text = "ms"
	var names []string
	vals := make([][]float64, 3)
	for _, path := range r.pubsub.paths {
		names = append(names, path.key)
		fx := r.pubsub.fixed[path.key]
		vals[0] = append(vals[0], msf(pick(fx, func(x pubsubRun) time.Duration { return x.p50 })))
		vals[1] = append(vals[1], msf(pick(fx, func(x pubsubRun) time.Duration { return x.p90 })))
		vals[2] = append(vals[2], msf(pick(fx, func(x pubsubRun) time.Duration { return x.p99 })))
	}
	bars(p, names, []string{"p50", "p90", "p99"}, vals)
	return p
}

func (r *report) sagaPlot() *plot.Plot {
	p := plot.New()
	p.Title.Text = "2. Sagas completed per second vs arrival rate"
	p.X.Label.Text = "arrivals/s"
	p.Y.Label.Text = "sagas/s"
	ideal := plotter.XYs{}
	for i, s := range r.saga.series {
		var xys plotter.XYs
		for _, st := range s.steps {
			xys = append(xys, plotter.XY{X: float64(st.rate), Y: st.tput})
			if len(ideal) == 0 || float64(st.rate) > ideal[len(ideal)-1].X {
				ideal = append(ideal, plotter.XY{X: float64(st.rate), Y: float64(st.rate)})
			}
		}
		// The refining step comes last but lies between two others.
		slicesSortXY(xys)
		if len(xys) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			continue
		}
		l.Color, pts.Color = plotutil.Color(i), plotutil.Color(i)
		pts.Shape = plotutil.Shape(i)
		p.Add(l, pts)
		p.Legend.Add(s.label, l, pts)
	}
	slicesSortXY(ideal)
	if len(ideal) > 1 {
		if l, err := plotter.NewLine(ideal); err == nil {
			l.Color = color.Gray{Y: 160}
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
			p.Add(l)
			p.Legend.Add("= arrival rate", l)
		}
	}
	p.X.Min, p.Y.Min = 0, 0
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	return p
}

func slicesSortXY(xys plotter.XYs) {
	for i := 1; i < len(xys); i++ {
		for j := i; j > 0 && xys[j].X < xys[j-1].X; j-- {
			xys[j], xys[j-1] = xys[j-1], xys[j]
		}
	}
}

func msf(d time.Duration) float64 { return float64(d) / 1e6 }
