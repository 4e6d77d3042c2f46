// The 14×32 tile's accumulators Z0…Z27 (row r in Z2r, Z2r+1) written to C
// at DX, rows R8 bytes apart: added to what C holds (ACC_TILE) or stored
// over it (STORE_TILE). Shared by the AVX-512 kernels; DX is advanced.

#define ACC_ROW(z0, z1) \
	VADDPS (DX), z0, z0; \
	VADDPS 64(DX), z1, z1; \
	VMOVUPS z0, (DX); \
	VMOVUPS z1, 64(DX)

#define STORE_ROW(z0, z1) \
	VMOVUPS z0, (DX); \
	VMOVUPS z1, 64(DX)

#define ACC_TILE \
	ACC_ROW(Z0, Z1); \
	ADDQ R8, DX; \
	ACC_ROW(Z2, Z3); \
	ADDQ R8, DX; \
	ACC_ROW(Z4, Z5); \
	ADDQ R8, DX; \
	ACC_ROW(Z6, Z7); \
	ADDQ R8, DX; \
	ACC_ROW(Z8, Z9); \
	ADDQ R8, DX; \
	ACC_ROW(Z10, Z11); \
	ADDQ R8, DX; \
	ACC_ROW(Z12, Z13); \
	ADDQ R8, DX; \
	ACC_ROW(Z14, Z15); \
	ADDQ R8, DX; \
	ACC_ROW(Z16, Z17); \
	ADDQ R8, DX; \
	ACC_ROW(Z18, Z19); \
	ADDQ R8, DX; \
	ACC_ROW(Z20, Z21); \
	ADDQ R8, DX; \
	ACC_ROW(Z22, Z23); \
	ADDQ R8, DX; \
	ACC_ROW(Z24, Z25); \
	ADDQ R8, DX; \
	ACC_ROW(Z26, Z27)

#define STORE_TILE \
	STORE_ROW(Z0, Z1); \
	ADDQ R8, DX; \
	STORE_ROW(Z2, Z3); \
	ADDQ R8, DX; \
	STORE_ROW(Z4, Z5); \
	ADDQ R8, DX; \
	STORE_ROW(Z6, Z7); \
	ADDQ R8, DX; \
	STORE_ROW(Z8, Z9); \
	ADDQ R8, DX; \
	STORE_ROW(Z10, Z11); \
	ADDQ R8, DX; \
	STORE_ROW(Z12, Z13); \
	ADDQ R8, DX; \
	STORE_ROW(Z14, Z15); \
	ADDQ R8, DX; \
	STORE_ROW(Z16, Z17); \
	ADDQ R8, DX; \
	STORE_ROW(Z18, Z19); \
	ADDQ R8, DX; \
	STORE_ROW(Z20, Z21); \
	ADDQ R8, DX; \
	STORE_ROW(Z22, Z23); \
	ADDQ R8, DX; \
	STORE_ROW(Z24, Z25); \
	ADDQ R8, DX; \
	STORE_ROW(Z26, Z27)
