package check

import (
	"slices"
	"strings"

	componentsapi "github.com/dapr/dapr/pkg/apis/components/v1alpha1"
	"github.com/dapr/dapr/pkg/injector/annotations"
	corev1 "k8s.io/api/core/v1"
)

// PluggableTypes are the component types that daprd does not build in:
// daprshop's own pluggable components (pluggable/), which a sidecar finds
// only as a socket served next to it. In Kubernetes, Dapr's injector runs
// each one's container in the pods that load it, from the container the
// component names in dapr.io/component-container, when the pod asks with
// dapr.io/inject-pluggable-components: "true".
var PluggableTypes = []string{"state.daprshop-redis"}

// componentContainer returns the container a component asks the injector
// to run, and whether it names one; a malformed one is a problem.
func componentContainer(c *componentsapi.Component) (*corev1.Container, bool, Problems) {
	raw := c.Annotations[annotations.KeyPluggableComponentContainer]
	if raw == "" {
		return nil, false, nil
	}
	var ctr corev1.Container
	if err := decodeStrict([]byte(raw), &ctr); err != nil {
		return nil, true, Problems{problem(CheckComponents, "Component/"+c.Name, "%s is not a container: %v", annotations.KeyPluggableComponentContainer, err)}
	}
	if ctr.Name == "" {
		ctr.Name = c.Name // as the injector names it
	}
	return &ctr, true, nil
}

// checkPluggable wants every pluggable component served where it is loaded:
// it names its container, and every app it is scoped to asks the injector
// for it and gets it (else that app's daprd fails on an unknown component
// type). A component container of daprshop's own registry carries the apps'
// tag, which `make images` builds; the injected containers themselves pass
// the checks of every container (checkApp).
func (sys *System) checkPluggable() Problems {
	var ps Problems
	appTag := sys.appImageTag()
	for _, c := range Of[*componentsapi.Component](sys.Set) {
		ref := "Component/" + c.Name
		ctr, named, bad := componentContainer(c)
		ps = append(ps, bad...)
		if !named {
			if slices.Contains(PluggableTypes, c.Spec.Type) {
				ps = append(ps, problem(CheckComponents, ref, "type %s is a pluggable component, and no %s names the container that serves it", c.Spec.Type, annotations.KeyPluggableComponentContainer))
			}
			continue
		}
		if ctr == nil {
			continue
		}
		if repo, tag, ok := splitImage(ctr.Image); ok && appTag != "" && strings.HasPrefix(repo, appRegistry) && tag != appTag {
			ps = append(ps, problem(CheckImages, ref, "its container's image %s has tag %s, the apps' images %s: `make images` builds one tag", ctr.Image, tag, appTag))
		}
		for _, a := range sys.Apps {
			if a.App == nil || (len(c.Scopes) > 0 && !slices.Contains(c.Scopes, a.App.AppID)) {
				continue
			}
			if a.Sidecar == nil || !a.Sidecar.InjectPluggableComponents {
				ps = append(ps, problem(CheckInjection, a.Ref, "loads %s (%s, a pluggable component) without %s: \"true\", so the injector adds no %s container and daprd fails on the unknown type", c.Name, c.Spec.Type, annotations.KeyPluggableComponentsInjection, ctr.Name))
				continue
			}
			if a.Injected != nil && !slices.ContainsFunc(a.Injected.Spec.Containers, func(x corev1.Container) bool { return x.Name == ctr.Name }) {
				ps = append(ps, problem(CheckInjection, a.Ref, "the injector adds no %s container for %s", ctr.Name, c.Name))
			}
		}
	}
	return ps
}

// appRegistry is where daprshop's own images live (deploy/k8s/base).
const appRegistry = "ghcr.io/daprshop/"

// appImageTag is the tag of the apps' images (one for all, `make images`).
func (sys *System) appImageTag() string {
	for _, a := range sys.Apps {
		if a.Container == nil {
			continue
		}
		if repo, tag, ok := splitImage(a.Container.Image); ok && strings.HasPrefix(repo, appRegistry) {
			return tag
		}
	}
	return ""
}

// splitImage splits repo:tag (no digest).
func splitImage(image string) (repo, tag string, ok bool) {
	if strings.Contains(image, "@") {
		return "", "", false
	}
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		return "", "", false
	}
	return image[:i], image[i+1:], true
}

// injectedContainers are the containers the injector added to a pod: the
// sidecar and the pluggable components' (the names the template lacks).
func injectedContainers(tmpl corev1.PodSpec, injected corev1.PodSpec) []string {
	var names []string
	for _, c := range injected.Containers {
		if !slices.ContainsFunc(tmpl.Containers, func(x corev1.Container) bool { return x.Name == c.Name }) {
			names = append(names, c.Name)
		}
	}
	return names
}

// componentsOf returns the set's components, as the injector lists them.
func componentsOf(s *Set) []componentsapi.Component {
	var out []componentsapi.Component
	for _, c := range Of[*componentsapi.Component](s) {
		out = append(out, *c)
	}
	return out
}

// checkOrder wants every Component that names a container rendered before
// every Deployment: `kubectl apply` creates objects in the rendered order,
// the replicaset controller creates a Deployment's pods within milliseconds,
// and the injector reads the namespace's Components only then, once. A
// component applied after the pods is missing from them until they are
// recreated (seen on a real API server: make test-k8s; the overlays set
// sortOptions for it).
func checkOrder(set *Set) Problems {
	var ps Problems
	firstDeployment := slices.IndexFunc(set.Objects, func(o Object) bool { return o.Kind == "apps/v1/Deployment" })
	if firstDeployment < 0 {
		return nil
	}
	for i, o := range set.Objects {
		c, ok := o.Obj.(*componentsapi.Component)
		if !ok || i < firstDeployment {
			continue
		}
		if _, named, _ := componentContainer(c); named {
			ps = append(ps, problem(CheckInjection, o.Ref(), "comes after %s in the rendered order: the injector would create the first pods without its container (order Components before Deployments with the kustomization's sortOptions)", set.Objects[firstDeployment].Ref()))
		}
	}
	return ps
}
