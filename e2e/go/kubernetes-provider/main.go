// pulumi-resource-kubernetes for forkstack's e2e tier.
//
// The provider module's own main (cmd/pulumi-resource-kubernetes) embeds schema-embed.json and
// terraform-mapping-embed.json, which `go generate` writes in pulumi-kubernetes' repository and
// which are not part of the published Go module. This main embeds the module's committed
// schema.json and terraform-mapping.json instead (e2e/build.sh copies them next to this file in
// its build folder, never into git), stamps the version the way generate.go does, and calls the
// exported provider.Serve.
package main

import (
	_ "embed"
	"encoding/json"
	"log"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema.json
var schema []byte

//go:embed terraform-mapping.json
var terraformMapping []byte

func main() {
	// generate.go sets the schema's version to the release's; keep every other field as it is.
	var spec map[string]json.RawMessage
	if err := json.Unmarshal(schema, &spec); err != nil {
		log.Fatalf("schema.json: %v", err)
	}
	v, err := json.Marshal(version.Version)
	if err != nil {
		log.Fatal(err)
	}
	spec["version"] = v
	versioned, err := json.Marshal(spec)
	if err != nil {
		log.Fatal(err)
	}
	provider.Serve("kubernetes", version.Version, versioned, terraformMapping)
}
