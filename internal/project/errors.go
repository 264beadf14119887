package project

import "errors"

var (
	// ErrNoProject: neither a compose file nor a running project was found.
	ErrNoProject = errors.New("no compose project found")
	// ErrUnknownService: a service asked for is not in the project.
	ErrUnknownService = errors.New("no such service")
)
