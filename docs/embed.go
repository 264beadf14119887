// Package docs holds documents the binary serves: the API's OpenAPI
// description, kept here beside the other documents.
package docs

import _ "embed"

// OpenAPI is openapi.json, the HTTP API's description (OpenAPI 3.1).
//
//go:embed openapi.json
var OpenAPI []byte
