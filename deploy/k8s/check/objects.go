package check

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	componentsapi "github.com/dapr/dapr/pkg/apis/components/v1alpha1"
	configurationapi "github.com/dapr/dapr/pkg/apis/configuration/v1alpha1"
	resiliencyapi "github.com/dapr/dapr/pkg/apis/resiliency/v1alpha1"
	subscriptionsapi "github.com/dapr/dapr/pkg/apis/subscriptions/v2alpha1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// kinds are the only kinds the manifests may hold, each with the Go type it
// decodes into. Anything else is a decode problem: a kind this check does not
// know is a kind nothing here checks (add it, with its checks).
var kinds = map[string]func() metav1.Object{
	"v1/ConfigMap":                             func() metav1.Object { return &corev1.ConfigMap{} },
	"v1/Namespace":                             func() metav1.Object { return &corev1.Namespace{} },
	"v1/Secret":                                func() metav1.Object { return &corev1.Secret{} },
	"v1/Service":                               func() metav1.Object { return &corev1.Service{} },
	"v1/ServiceAccount":                        func() metav1.Object { return &corev1.ServiceAccount{} },
	"apps/v1/Deployment":                       func() metav1.Object { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":                      func() metav1.Object { return &appsv1.StatefulSet{} },
	"autoscaling/v2/HorizontalPodAutoscaler":   func() metav1.Object { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"policy/v1/PodDisruptionBudget":            func() metav1.Object { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1/NetworkPolicy":       func() metav1.Object { return &networkingv1.NetworkPolicy{} },
	"networking.k8s.io/v1/Ingress":             func() metav1.Object { return &networkingv1.Ingress{} },
	"rbac.authorization.k8s.io/v1/Role":        func() metav1.Object { return &rbacv1.Role{} },
	"rbac.authorization.k8s.io/v1/RoleBinding": func() metav1.Object { return &rbacv1.RoleBinding{} },
	"dapr.io/v1alpha1/Component":               func() metav1.Object { return &componentsapi.Component{} },
	"dapr.io/v1alpha1/Configuration":           func() metav1.Object { return &configurationapi.Configuration{} },
	"dapr.io/v1alpha1/Resiliency":              func() metav1.Object { return &resiliencyapi.Resiliency{} },
	"dapr.io/v2alpha1/Subscription":            func() metav1.Object { return &subscriptionsapi.Subscription{} },
	// The edge's (edge.go).
	"traefik.io/v1alpha1/Middleware":         func() metav1.Object { return &TraefikMiddleware{} },
	"configuration.konghq.com/v1/KongPlugin": func() metav1.Object { return &KongPlugin{} },
}

// Object is one decoded manifest object: a pointer to its API type.
type Object struct {
	Kind string // "apiVersion/Kind", as in kinds
	Obj  metav1.Object
}

// Ref names the object in problems.
func (o Object) Ref() string {
	_, kind := splitKind(o.Kind)
	return kind + "/" + o.Obj.GetName()
}

func splitKind(k string) (apiVersion, kind string) {
	for i := len(k) - 1; i >= 0; i-- {
		if k[i] == '/' {
			return k[:i], k[i+1:]
		}
	}
	return "", k
}

// Set is the decoded output of one kustomization.
type Set struct {
	Objects []Object
}

// Of returns the objects of type T, in manifest order.
func Of[T metav1.Object](s *Set) []T {
	var out []T
	for _, o := range s.Objects {
		if t, ok := o.Obj.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

// Render builds the kustomization in dir as `kubectl apply -k dir` would:
// the Kustomize API with its default options (files only from below dir,
// no plugins), and returns the output as YAML documents.
func Render(dir string) ([]byte, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	return m.AsYaml()
}

// Decode decodes every YAML document strictly into the Go type of its kind.
// It returns the objects that decoded, and a decode problem for each that
// did not: an unknown kind, an unknown or duplicate field, a value of the
// wrong type. A problem never stops the others from being found.
func Decode(manifests []byte) (*Set, Problems) {
	set := &Set{}
	var problems Problems
	docs, err := splitDocuments(manifests)
	if err != nil {
		return set, Problems{problem(CheckDecode, "manifests", "%v", err)}
	}
	for i, doc := range docs {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			problems = append(problems, problem(CheckDecode, fmt.Sprintf("document %d", i+1), "%v", err))
			continue
		}
		ref := head.Kind + "/" + head.Metadata.Name
		kind := head.APIVersion + "/" + head.Kind
		newObj, ok := kinds[kind]
		if !ok {
			problems = append(problems, problem(CheckDecode, ref, "kind %s is not one this check knows (add it to kinds, with the checks it needs)", kind))
			continue
		}
		obj := newObj()
		if err := decodeStrict(doc, obj); err != nil {
			problems = append(problems, problem(CheckDecode, ref, "does not decode strictly into %T: %v", obj, err))
			continue
		}
		set.Objects = append(set.Objects, Object{Kind: kind, Obj: obj})
	}
	return set, problems
}

// decodeStrict decodes YAML into a typed object the way the Kubernetes API
// server does with strict field validation (sigs.k8s.io/json): field names
// match case-sensitively, and an unknown or duplicate field is an error.
// (encoding/json, under sigs.k8s.io/yaml.UnmarshalStrict, would take
// "livenessprobe" for "livenessProbe".)
func decodeStrict(doc []byte, into any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, into)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// decodeLenient decodes YAML as daprd decodes its resource files
// (sigs.k8s.io/yaml.Unmarshal: unknown fields dropped, names matched in any
// case), and returns what a strict decoding would have refused.
func decodeLenient(doc []byte, into any, fresh func() any) (ignored error, err error) {
	if err := yaml.Unmarshal(doc, into); err != nil {
		return nil, err
	}
	return decodeStrict(doc, fresh()), nil
}

// splitDocuments splits a YAML stream into its non-empty documents.
func splitDocuments(b []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(stripComments(doc))) > 0 {
			docs = append(docs, doc)
		}
	}
}

// stripComments drops whole-line comments, to tell an empty document from
// one that holds something.
func stripComments(doc []byte) []byte {
	var out []byte
	for line := range bytes.Lines(doc) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] == '#' {
			continue
		}
		out = append(out, line...)
	}
	return out
}
