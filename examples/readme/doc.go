// Package readme holds the test that builds every Go snippet of the
// repository's README.md as pasted, each in a throwaway module of its own.
// It has no code of its own.
package readme
