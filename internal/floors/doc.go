// Package floors holds the test that keeps the project's imports pointing
// down its floors (the README's Architecture section draws them). It has
// no code of its own.
package floors
