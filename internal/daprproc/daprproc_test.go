package daprproc

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestDaprdArgs(t *testing.T) {
	t.Parallel()
	base := Daprd{AppID: "users", HTTPPort: 1, GRPCPort: 2, InternalGRPCPort: 3, MetricsPort: 4}
	tests := []struct {
		name    string
		d       func(Daprd) Daprd
		want    []string
		notWant []string
	}{
		{
			name: "defaults: http, info, no control plane",
			d:    func(d Daprd) Daprd { return d },
			want: []string{
				"--app-id=users", "--dapr-http-port=1", "--dapr-grpc-port=2", "--dapr-internal-grpc-port=3",
				"--metrics-port=4", "--app-protocol=http", "--log-level=info",
				"--placement-host-address=", "--scheduler-host-address=",
			},
			notWant: []string{"--app-port=0", "--enable-mtls", "--enable-app-health-check", "--dapr-listen-addresses=", "--dapr-block-shutdown-duration=0s", "--enable-profiling"},
		},
		{
			name: "an app, its health check and the control plane",
			d: func(d Daprd) Daprd {
				d.AppPort, d.AppChannelAddress = 8080, "127.0.0.1"
				d.Placement, d.Scheduler = "127.0.0.1:50005", "127.0.0.1:50006"
				d.AppHealth = &AppHealth{Path: "/readyz", IntervalS: 5, TimeoutMS: 500, Threshold: 3}
				d.ResourcesPaths = []string{"a", "b"}
				return d
			},
			want: []string{
				"--app-port=8080", "--app-channel-address=127.0.0.1",
				"--placement-host-address=127.0.0.1:50005", "--scheduler-host-address=127.0.0.1:50006",
				"--enable-app-health-check", "--app-health-check-path=/readyz", "--app-health-probe-interval=5",
				"--app-health-probe-timeout=500", "--app-health-threshold=3", "--resources-path=a", "--resources-path=b",
			},
		},
		{
			name: "a pod's shutdown: subscriptions stopped first, the app served for 10s",
			d:    func(d Daprd) Daprd { d.BlockShutdown = 10 * time.Second; return d },
			want: []string{"--dapr-block-shutdown-duration=10s"},
		},
		{
			name: "mTLS with sentry's address",
			d:    func(d Daprd) Daprd { d.SentryAddress = "127.0.0.1:50001"; return d },
			want: []string{"--enable-mtls", "--sentry-address=127.0.0.1:50001"},
		},
		{
			name: "profiling on a port of its own",
			d:    func(d Daprd) Daprd { d.ProfilePort = 7777; return d },
			want: []string{"--enable-profiling", "--profile-port=7777"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := tt.d(base).Args()
			for _, w := range tt.want {
				assert.Contains(t, args, w)
			}
			for _, nw := range tt.notWant {
				assert.NotContains(t, args, nw)
			}
		})
	}
}

func TestControlPlaneTLS(t *testing.T) {
	t.Parallel()
	tls := &TLS{TrustDomain: "localhost", TrustAnchorsFile: "/s/ca.crt", SentryAddress: "127.0.0.1:50001"}
	want := []string{"--tls-enabled", "--trust-domain=localhost", "--trust-anchors-file=/s/ca.crt", "--sentry-address=127.0.0.1:50001"}
	for _, tlsOn := range []*TLS{tls, nil} {
		p := Placement{Port: 1, HealthzPort: 2, MetricsPort: 3, RaftPort: 4, TLS: tlsOn}.Spec("placement", "", nil)
		s := Scheduler{Port: 5, HealthzPort: 6, MetricsPort: 7, EtcdClientPort: 8, EtcdPeerPort: 9, TLS: tlsOn}.Spec("scheduler", "", nil)
		for _, args := range [][]string{p.Args, s.Args} {
			for _, w := range want {
				if tlsOn != nil {
					assert.Contains(t, args, w)
				} else {
					assert.NotContains(t, args, w)
				}
			}
		}
		assert.Len(t, p.Ports, 4)
		assert.Len(t, s.Ports, 5)
	}
	assert.Equal(t, "127.0.0.1:5", Scheduler{Port: 5}.Addr())
	assert.Contains(t, Scheduler{Port: 5}.Spec("scheduler", "", nil).Args, "--override-broadcast-host-port=127.0.0.1:5")
}

func TestControlPlaneMode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		args      []string
		want, not []string
	}{
		{"placement standalone", Placement{}.Spec("placement", "", nil).Args, []string{"--mode=standalone"}, []string{"--mode=kubernetes"}},
		{"placement kubernetes", Placement{Kubernetes: true}.Spec("placement", "", nil).Args, []string{"--mode=kubernetes"}, []string{"--mode=standalone"}},
		{"scheduler standalone", Scheduler{}.Spec("scheduler", "", nil).Args, []string{"--mode=standalone"}, []string{"--mode=kubernetes"}},
		{"scheduler kubernetes", Scheduler{Kubeconfig: "/k/sa.kubeconfig"}.Spec("scheduler", "", nil).Args,
			[]string{"--mode=kubernetes", "--kubeconfig=/k/sa.kubeconfig"}, []string{"--mode=standalone"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, w := range tt.want {
				assert.Contains(t, tt.args, w)
			}
			for _, n := range tt.not {
				assert.NotContains(t, tt.args, n)
			}
		})
	}
}
