//go:build race

package restore

// raceEnabled: the race detector multiplies CPU time, which is then not
// measured.
const raceEnabled = true
