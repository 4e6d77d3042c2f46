package autoencoder

// l2Part adds the L2 weight penalty ½·L2·Σw² (weights, not biases) to the
// objective, with any variant: L2·w to every weight gradient once the
// backward pass is done, and n·½·L2·Σw² to the penalty.
type l2Part struct{ noPart }

func (l2Part) grads(t *Trainer, v *batchView, at gradPoint, _ int) (bool, error) {
	if at != afterBackward {
		return false, nil
	}
	b, l2 := t.Model.Backend, t.Cfg.L2
	if err := b.Fill(t.obj.penTmp, 0); err != nil {
		return false, err
	}
	for _, L := range t.Model.Layers {
		if L.TiedTo >= 0 {
			continue
		}
		if t.ownsGlobalTerms() { // once over the ranks (dist.go)
			if err := b.Axpy(float32(l2), L.W, L.GW); err != nil {
				return false, err
			}
		}
		if err := b.SumSquares(t.obj.penTmp, L.W); err != nil {
			return false, err
		}
	}
	return false, b.Axpy(float32(0.5*l2*float64(v.n)), t.obj.penTmp, t.obj.pen)
}
