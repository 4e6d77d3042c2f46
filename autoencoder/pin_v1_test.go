//go:build !amd64.v3

package autoencoder

// pinGOAMD64v3 reports a build with GOAMD64=v3 or above (see pin_test.go).
const pinGOAMD64v3 = false
