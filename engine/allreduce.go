package engine

// AllReducer is a Backend that sums a buffer over the ranks of a
// data-parallel job on its own device, as one more op of its queue: the
// CUDA backend once it joined an NCCL communicator (ncclAllReduce on its
// stream). Being an op, the sum is recorded by Record like any other (a
// node of the CUDA graph), so a replayed training step sums its gradients
// without the host.
type AllReducer interface {
	// Ranks is the number of ranks the backend sums over: 0 while it
	// belongs to no job.
	Ranks() int
	// AllReduceSum replaces m with its elementwise sum over the ranks.
	// Every rank must issue the same sums, in the same order, with the
	// same lengths.
	AllReduceSum(m Matrix) error
	// CollectiveError reports a failure of the sums already queued (a
	// rank that died or stalled), which an op's own error cannot: nil
	// while they are healthy. After a failure the job is over: the
	// backend has left it and later sums fail.
	CollectiveError() error
}
