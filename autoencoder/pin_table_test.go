package autoencoder

// The recorded hashes of the pinned runs. What the pin is, where it holds
// and how to update these tables when results change on purpose: see the
// top of pin_test.go.

// pinned holds the recorded hashes: for each kernel path, for each run.
var pinned = map[string]map[string]pinHashes{
	"avx2": {
		"plain": {
			params:  "c952de75ef8cb825b94ee89b64e55f5d191e66b5f97ce909460c35a43999a570",
			opt:     "f6d26a0aa5139fb63fb05bc65c86814e550dfb3ae613b1d2426b8712029fabcb",
			metrics: "3871facaf2989da25cc5396e433d2dafb9e2a22643fac43ee31695f7c2e44db6",
		},
		"tied": {
			params:  "b972d64a92bc72c69e6af97e3d14b351afd36466d7bc4874f9612f876777b5fc",
			opt:     "6e466569d86d0bef226b68728e857e8565fc73b580170f3da1e69965dfbc79e3",
			metrics: "4454b9b18b651e508adedfbebbc7e56e774fe95d1da0b41448477c8832541fbf",
		},
		"denoising-gaussian": {
			params:  "5d79c16c27e970ca270705cc2142eb60484bf2edc44ff52966d52cad51429b62",
			opt:     "3a16f189ab12418c504ed2cfb42394152f48fa70288d10895e2adb6c8c56ae33",
			metrics: "37d3930a329ebb9a5d111ca0efe4ce4123755e2f7ee8521515c00ccb2f0a3782",
		},
		"denoising-masking": {
			params:  "f380486b88506a2234db8344c6e3cb094a1031a1abfdfc1b680df220d3d8fe60",
			opt:     "d6c8e4556bee59dec6af800105d0969f78dd0b62c1fd1119808ee976235d50a6",
			metrics: "65e17b6b47321cd3c4b91130cf8205f2fe632a5728cd7cbcf35e082c16f2181b",
		},
		"sparse-kl-l1": {
			params:  "b4b192a66c78e6c3623ff46a5b70b5767bffba7c6a83f3d7d9e29eab125832a5",
			opt:     "ddba22caac4908fdf0b0de1dcaf7956f4d021d7512989fe0cf235c4ab31d8dc3",
			metrics: "ff4880b8faa68d15bb145965b015ca14168af28b568c8f40cd48c75461001934",
		},
		"contractive-exact": {
			params:  "521f0d578c55348bdaeb46ae23d6f7f2a0c98a02e537a2fd9f4afb54a2d2c5b3",
			opt:     "50a828f664cd29ca0b4e889fc87e91039da3142840c2fd8cb8f9d498c8c89c69",
			metrics: "08c942840395943afbf79a4ef7355b628d5db7b2951eeb8b42e8d7c622ec533c",
		},
		"contractive-estimator": {
			params:  "2d00e6acdd649bfa2a90cfc7057c0aa58b0eb15048dea68e6dccebc1a9f12163",
			opt:     "19a1b99e9786419a75c937cd5a0e2175736a9e4ce1c083b89c93bef4a447e217",
			metrics: "51a7cdbebec764d50304e045c1a7d396040775ebcad9145670bb1e5ad37fc7f2",
		},
		"vae-warmup": {
			params:  "44af71d887d3a58c38b2e0e161352fddefee383fbb735ce0be5eb160d621ad1a",
			opt:     "da0b48383117eaa03ac846df2ad68e72716384663e92d40adcaa50baabef83b0",
			metrics: "f6d666d308442af2c35f133c6af9f995c0fa8d73d7473e39e0d2331ab6c8eb99",
		},
		"adamw-cosine-clip": {
			params:  "3d643fc94907c974a0969c6b041e42a0bb91e76c4a1c185c5b9b90e76e3194a8",
			opt:     "9348921e6153559faa05e46c89773b91ac33f3273a13fc4271181cae08ff2cb8",
			metrics: "aa46bddbec80ea1bf3b9407bb8ff123313b36f1f1a335a218ef2318b829a4f70",
		},
		"sgd-momentum-step": {
			params:  "22157d7442ca213ca19a64d3663bfc7b426d64f6e4ca7b7c129eb68f6fc455a4",
			opt:     "720184b8c8a88daf85e6925aa4ce284fcd47430013f0c9ed9b75f10b277923c5",
			metrics: "f3fc1b4f104db615401dbe6dc2b05cfa63b09a51bacb78a5684c4fbc0ac3be33",
		},
		"streamed-chunks": {
			params:  "64f28b40809a526580ec76e908a9744682b8cf12e8f93df97e2a9f6ded0c7d8f",
			opt:     "e65244a001e6ed1cb52f495a4c96337ce619585c9a2a726184d43189f7c81c9d",
			metrics: "a072b67d9ca73cf61bd4cb80b6d1633c9ca21e174cf2df700727d825211e74e0",
		},
	},
	"generic": {
		"plain": {
			params:  "5267ea999284163713c9f983abd12c932287f2cd8fc148bd4bef322f2cc639bf",
			opt:     "c07bebf78206eb0c8b5490ee4d2a43d7bdb5bf0e6bdd50735c0f08b19e85f8bb",
			metrics: "3871facaf2989da25cc5396e433d2dafb9e2a22643fac43ee31695f7c2e44db6",
		},
		"tied": {
			params:  "df72b4f3da274f1844066a77d797ceb22653f895ddc476add76a7b1e684218c7",
			opt:     "6f4cd6d641adf2287097c5503649abdc382729a9a416f7177a58caff5ecc46d9",
			metrics: "d55ddecbaebf8fd861b2e73a459e9645da9feb9bb562bcbf53c39445e3071294",
		},
		"denoising-gaussian": {
			params:  "4e6133f8a1df620575bf4abe508838eee670e19a37c0c05a30a8ea3c193a561d",
			opt:     "bca3a9ea98b26e6ec938d9bd346b2b1b4297789b576ee0d6e8f114df3e5dee43",
			metrics: "944f0b826fd28a3f4690c9606f5c0528db95beb967335cd91f156cdfbb409566",
		},
		"denoising-masking": {
			params:  "1f9c9970136e4badd208881fe483087f656a3ef99154266bdedf7dec31fb7b47",
			opt:     "f590445ef676ba740e59e0da94c18b8d14cae4b2a1439ecd2d543f2437776951",
			metrics: "65e17b6b47321cd3c4b91130cf8205f2fe632a5728cd7cbcf35e082c16f2181b",
		},
		"sparse-kl-l1": {
			params:  "ff4be7c3800ac7bd376d90af7fc2a865011be710ea991b7eb9492a795504fe71",
			opt:     "2a09e3f5394eed0ea732d212fd212e53900b3652dad8633bc47bb55caa5c8b1c",
			metrics: "1b56abcc220397fe1b62884ef51354202a41e5ccd12c6f5586cf91526bb94375",
		},
		"contractive-exact": {
			params:  "63f59e5267609a6eccf29042bad32f236bff73c6a494387b92aaf281524927bd",
			opt:     "389c8bc44182c9722c3f0f42ae299803c1e184127bbf78a3b308c28399b67806",
			metrics: "08c942840395943afbf79a4ef7355b628d5db7b2951eeb8b42e8d7c622ec533c",
		},
		"contractive-estimator": {
			params:  "cd78486166928602c8ac20deb3ec858fe45148be21ff0ec437e50a4392f59fae",
			opt:     "244992e009423ff39b0954f2fc00519b4e481d93a3f5dc8c4c2b6e1da08b3dfa",
			metrics: "51a7cdbebec764d50304e045c1a7d396040775ebcad9145670bb1e5ad37fc7f2",
		},
		"vae-warmup": {
			params:  "93b6b145ff643d29eb2d18cb24b335aec5d21270f4295687568285a6e4438931",
			opt:     "9702eb19e9aac6d08bea7cc7b97b63582060ddfafe154763206d2a2fd1980c46",
			metrics: "74ad53967d63a698197b7caffdb8ad64ae935f0d9bf9cf348f2264d323abc225",
		},
		"adamw-cosine-clip": {
			params:  "2e861d08fab51ed4e2bacfab7d3dcd962c6173252f26db09562cec040a053ee7",
			opt:     "e841f195fc58539b4920bca73f0e00c17e256023785e4c00a9e66b3d2b9c0e77",
			metrics: "0ef4c004ec03e7528630bb183c4eee62302d589be685544e3f8635f14e1d1870",
		},
		"sgd-momentum-step": {
			params:  "3e5c27ecce99ceb89b6eed23dff4ec04141b3b24cb514f559755b4abcb3d3eef",
			opt:     "f8f61cc23e19694d7b7a85622d8b1a9342936e699d83b03b1157b2e3e57bc6c3",
			metrics: "f3fc1b4f104db615401dbe6dc2b05cfa63b09a51bacb78a5684c4fbc0ac3be33",
		},
		"streamed-chunks": {
			params:  "4fa6740ad54108338e2cfc3547867e68b768830bebad19178e8cf35d339d2402",
			opt:     "6b9733637c4c1120fbdec26d16d781d209cf82ea9eb81030b832761477bf2755",
			metrics: "f205898934ed5a3dc03a718f76bd4b8a5108c963952e54edd7a2349e1a1d3880",
		},
	},
}

// pinHashes are one run's sha256 (hex) of its final parameters, optimizer
// moments and per-epoch metrics.
type pinHashes struct{ params, opt, metrics string }
