package check

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"

	componentsapi "github.com/dapr/dapr/pkg/apis/components/v1alpha1"
	"github.com/dapr/dapr/pkg/injector/patcher"
	"github.com/dapr/kit/logger"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Injector holds the settings of the Dapr control plane that the sidecar
// injector applies to every pod, as the guide installs it
// (docs/kubernetes.md): the Helm chart's defaults of Dapr 1.18.2, except
// dapr_sidecar_injector.sidecarDropALLCapabilities=true, without which the
// sidecar keeps the container runtime's default capabilities.
type Injector struct {
	SidecarImage         string
	ControlPlane         string // the control plane's namespace
	TrustDomain          string // the control plane's trust domain
	RunAsNonRoot         bool   // sidecarRunAsNonRoot
	ReadOnlyRootFS       bool   // sidecarReadOnlyRootFilesystem
	DropAllCapabilities  bool   // sidecarDropALLCapabilities
	SchedulerEnabled     bool
	PlacementHostAddress string
	// Components are those the injector finds in the cluster, for the
	// pluggable components' containers (newSystem sets the overlay's).
	Components []componentsapi.Component
}

// GuideInjector is the control plane of docs/kubernetes.md.
var GuideInjector = Injector{
	SidecarImage:         "ghcr.io/dapr/daprd:1.18.2",
	ControlPlane:         "dapr-system",
	TrustDomain:          "cluster.local",
	RunAsNonRoot:         true,
	ReadOnlyRootFS:       true,
	DropAllCapabilities:  true,
	SchedulerEnabled:     true,
	PlacementHostAddress: "dapr-placement-server.dapr-system.svc.cluster.local:50005",
}

// injectorLog is the logger Dapr's injector code warns on (an annotation it
// cannot parse and ignores, say); it is global, so injections take turns.
var injectorLog struct {
	sync.Mutex
	buf bytes.Buffer
}

func init() {
	l := logger.NewLogger("dapr.injector")
	l.SetOutput(&injectorLog.buf)
	l.SetOutputLevel(logger.WarnLevel)
}

// Inject returns the pod the Dapr 1.18.2 sidecar injector would admit for a
// pod template: its own code (pkg/injector/patcher) reads the dapr.io
// annotations, builds the daprd container and patches the pod, as the
// webhook does. It also returns the parsed sidecar settings, and the
// injector's warnings (each one an annotation it ignored).
func (inj Injector) Inject(namespace string, tmpl corev1.PodTemplateSpec) (*corev1.Pod, *patcher.SidecarConfig, []string, error) {
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: *tmpl.ObjectMeta.DeepCopy(),
		Spec:       *tmpl.Spec.DeepCopy(),
	}
	pod.Namespace = namespace
	if pod.Name == "" {
		pod.Name = "pod"
	}

	injectorLog.Lock()
	defer injectorLog.Unlock()
	injectorLog.buf.Reset()

	c := patcher.NewSidecarConfig(pod)
	c.Namespace = namespace
	c.MTLSEnabled = true
	c.Identity = namespace + ":" + pod.Spec.ServiceAccountName
	c.ImagePullPolicy = corev1.PullIfNotPresent
	c.SidecarImage = inj.SidecarImage
	c.OperatorAddress = "dapr-api." + inj.ControlPlane + ".svc.cluster.local:443"
	c.SentryAddress = "dapr-sentry." + inj.ControlPlane + ".svc.cluster.local:443"
	c.RunAsNonRoot = inj.RunAsNonRoot
	c.ReadOnlyRootFilesystem = inj.ReadOnlyRootFS
	c.SidecarDropALLCapabilities = inj.DropAllCapabilities
	c.ControlPlaneNamespace = inj.ControlPlane
	c.ControlPlaneTrustDomain = inj.TrustDomain
	c.SentrySPIFFEID = "spiffe://" + inj.TrustDomain + "/ns/" + inj.ControlPlane + "/dapr-sentry"
	c.CurrentTrustAnchors = []byte("trust anchors")
	c.KubeClusterDomain = "cluster.local"
	c.SchedulerEnabled = inj.SchedulerEnabled
	c.PlacementAddress = inj.PlacementHostAddress
	c.SetFromPodAnnotations()
	// The webhook lists the namespace's components; these are the overlay's.
	c.GetInjectedComponentContainers = func(appID, _ string) ([]corev1.Container, error) {
		return patcher.Injectable(appID, inj.Components), nil
	}

	patch, err := c.GetPatch()
	warnings := injectorWarnings(injectorLog.buf.String())
	if err != nil {
		return nil, c, warnings, err
	}
	before, err := json.Marshal(pod)
	if err != nil {
		return nil, c, warnings, err
	}
	after := before
	if len(patch) > 0 {
		after, err = patch.Apply(before)
		if err != nil {
			return nil, c, warnings, fmt.Errorf("apply the injector's patch: %w", err)
		}
	}
	injected := &corev1.Pod{}
	if err := decodeStrict(after, injected); err != nil {
		return nil, c, warnings, fmt.Errorf("the injected pod does not decode: %w", err)
	}
	return injected, c, warnings, nil
}

// logMsg is the message of a logrus text line: msg="...".
var logMsg = regexp.MustCompile(`msg=("(?:[^"\\]|\\.)*")`)

// injectorWarnings returns the messages the injector logged, one per line.
func injectorWarnings(out string) []string {
	var ws []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		if m := logMsg.FindStringSubmatch(line); m != nil {
			if msg, err := strconv.Unquote(m[1]); err == nil {
				line = msg
			}
		}
		ws = append(ws, line)
	}
	return ws
}

// KnownAnnotations are the dapr.io annotations the 1.18.2 injector reads
// (the annotation tags of its SidecarConfig).
var KnownAnnotations = func() map[string]bool {
	known := map[string]bool{}
	t := reflect.TypeFor[patcher.SidecarConfig]()
	for i := range t.NumField() {
		if key := t.Field(i).Tag.Get("annotation"); key != "" {
			known[key] = true
		}
	}
	return known
}()
