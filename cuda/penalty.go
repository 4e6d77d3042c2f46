package cuda

import (
	"errors"

	"github.com/aegpu/aegpu/engine"
)

// errPenaltyTODO marks the variant regularizer ops while they are being
// written; every one is replaced by its implementation.
var errPenaltyTODO = errors.New("cuda: variant regularizer op not implemented yet")

func (b *Backend) Sparsity(acc, dh, rho, h engine.Matrix, l1, beta, target, weight float32) error {
	return errPenaltyTODO
}

func (b *Backend) ContractiveExact(acc, dy, dw, db, y, z, w engine.Matrix, act engine.Act, lambda, weight float32) error {
	return errPenaltyTODO
}

func (b *Backend) ActJVP(u, s, y, z engine.Matrix, act engine.Act) error { return errPenaltyTODO }

func (b *Backend) ActJVPBackward(ds, dzExtra, du, s, y, z engine.Matrix, act engine.Act) error {
	return errPenaltyTODO
}

func (b *Backend) ActBackward(dy, extra, y, z engine.Matrix, act engine.Act) error {
	return errPenaltyTODO
}

func (b *Backend) Reparameterize(z, mu, logvar, eps engine.Matrix) error { return errPenaltyTODO }

func (b *Backend) ReparamBackward(dmu, dlogvar, acc, beta, dz, mu, logvar, eps engine.Matrix, scale, weight float32) error {
	return errPenaltyTODO
}
