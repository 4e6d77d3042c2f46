"""Writes the .npy fixtures that dataset's tests read, with NumPy itself.

Run from this directory: python3 gen.py (made with NumPy 1.24.2). The values
are small integers and simple fractions so that the Go test can state them.
"""
import numpy as np
from numpy.lib import format as fmt

a = np.array([[1.5, -2, 3], [4, 5.25, -6]], dtype=np.float32)
np.save("f4_2x3.npy", a)
np.save("f8_vec.npy", np.array([0.5, -1, 2], dtype=np.float64))
np.save("u1_2x2x3.npy", np.arange(12, dtype=np.uint8).reshape(2, 2, 3))
np.save("i4_2x2.npy", np.array([[-7, 0], [1 << 20, 3]], dtype=np.int32))
np.save("i8_vec.npy", np.array([3, 1, 4, 1, 5], dtype=np.int64))
np.save("i1_vec.npy", np.array([-128, -1, 127], dtype=np.int8))
np.save("u2_vec.npy", np.array([0, 65535], dtype=np.uint16))
np.save("b1_vec.npy", np.array([True, False, True]))
np.save("f2_vec.npy", np.array([1, -2, 0.5], dtype=np.float16))
np.save("f4_be.npy", a.astype(">f4"))
np.save("f4_scalar.npy", np.float32(42))
np.save("f4_empty.npy", np.zeros((0, 3), dtype=np.float32))
np.save("f4_fortran.npy", np.asfortranarray(a))
np.save("structured.npy", np.zeros(2, dtype=[("x", "<f4"), ("y", "<i4")]))
np.save("c8_vec.npy", np.zeros(2, dtype=np.complex64))
for v in (2, 3):
    with open(f"f4_2x3_v{v}.npy", "wb") as f:
        fmt.write_array(f, a, version=(v, 0))
