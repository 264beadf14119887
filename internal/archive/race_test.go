//go:build race

package archive

// raceEnabled: the race detector multiplies memory and CPU, so resource
// bounds are not measured under it.
const raceEnabled = true
