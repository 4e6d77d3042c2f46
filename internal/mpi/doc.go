// Package mpi is aegpu's run-time binding to an MPI library, loaded with
// dlopen as cuda/internal/cu loads the CUDA driver: no MPI is needed to
// build aegpu or to run it as one process.
//
// Detect reads the launcher's environment (mpirun of Open MPI, Hydra's
// mpiexec of MPICH, PMIx, Slurm's srun) and says whether this process is
// one rank of a parallel job. Init loads the library (AEGPU_MPI_LIB, else
// the library that matches the launcher: libmpi.so.40 for Open MPI,
// libmpi.so.12 or libmpich.so.12 for MPICH and its derivatives), calls
// MPI_Init_thread and returns the world communicator.
//
// The two ABIs differ in their handles. Open MPI's are pointers to objects
// the library exports (MPI_COMM_WORLD is &ompi_mpi_comm_world, found with
// dlsym; MPI_IN_PLACE is (void*)1). MPICH's are integer constants from its
// mpi.h (MPI_COMM_WORLD 0x44000000, MPI_FLOAT 0x4c00040a, MPI_DOUBLE
// 0x4c00080b, MPI_BYTE 0x4c00010d, MPI_SUM 0x58000003; MPI_IN_PLACE
// (void*)-1), which Intel MPI, MVAPICH and Cray MPICH share. The ABI is
// told by the library's symbols (ompi_mpi_comm_world), not its name.
//
// MPI is called from one locked OS thread (MPI_THREAD_FUNNELED): Go moves
// goroutines between threads, so every call is handed to that thread.
package mpi
