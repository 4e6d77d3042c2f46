// Package backends links every engine backend into a binary. Import it for
// its side effects:
//
//	import _ "github.com/aegpu/aegpu/backends"
//
// then pick a device with engine.Open("auto"|"cpu"|"cuda"|"cuda:N").
package backends

import (
	_ "github.com/aegpu/aegpu/cpu_fallback" // registers "cpu"
	_ "github.com/aegpu/aegpu/cuda"         // registers "cuda" (loads libcuda.so.1 at run time)
)
