package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
)

// The library's errors that a setting fixes say so in the library's terms
// (TrainConfig.Batch, Arch.Layers, …) and carry their values; the CLI says
// the same with its flags. flagAdvice rewords them wherever they sit in an
// error's chain.

// adviseInFlags makes cmd's errors advise in flags (flagAdvice).
func adviseInFlags(cmd *cli.Command) {
	if act := cmd.Action; act != nil {
		cmd.Action = func(c *cli.Context) error { return flagAdvice(act(c)) }
	}
}

// flagAdvice returns err with each library error of its chain that names
// an API setting reworded with the flag that sets it: the message of the
// library error is replaced, in err's message, by the CLI's. The result
// wraps err (errors.Is/As, and the exit status, see through it); err
// itself when there is nothing to reword.
func flagAdvice(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	reword := func(api error, cli string) {
		msg = strings.Replace(msg, api.Error(), cli, 1)
	}
	var (
		batch     *autoencoder.BatchMemoryError
		width     *autoencoder.InputWidthError
		resume    *autoencoder.ResumeModeError
		kl        *autoencoder.KLActivationError
		index     *autoencoder.LayerIndexError
		encOnly   *autoencoder.EncoderOnlyError
		nonFinite *dataset.NonFiniteError
		precision *engine.PrecisionError
	)
	if errors.As(err, &batch) {
		reword(batch, batch.Detail()+"; try a smaller --batch")
	}
	if errors.As(err, &width) {
		reword(width, fmt.Sprintf("%s: use --layers %d,… (the first width is the data width)", width.Detail(), width.Cols))
	}
	if errors.As(err, &resume) {
		if resume.Streamed {
			reword(resume, resume.Dir+" was trained with --stream; resume it with --stream")
		} else {
			reword(resume, resume.Dir+" was not trained with --stream; resume it without --stream")
		}
	}
	if errors.As(err, &kl) {
		reword(kl, kl.Detail()+": use a sigmoid activation, or --sparsity-beta 0 with --l1")
	}
	if errors.As(err, &index) {
		reword(index, index.Detail()+": give the hidden activation the model was trained with (--hidden)")
	}
	if errors.As(err, &encOnly) {
		hint := encOnly.Hint
		switch {
		case hint != "":
		case encOnly.Resume:
			hint = "Resume the original model's directory instead, or train a new model (aegpu train)"
		default:
			hint = "For a model with a decoder, export the original model without --encoder-only and import that file"
		}
		reword(encOnly, encOnly.Detail()+"; it can only encode (aegpu encode). "+strings.ToUpper(hint[:1])+hint[1:])
	}
	if errors.As(err, &nonFinite) {
		reword(nonFinite, nonFinite.Detail()+"; use --nan skip to drop rows with NaN/Inf or --nan zero to replace them with 0")
	}
	if errors.As(err, &precision) {
		reword(precision, fmt.Sprintf("--precision %s needs a GPU with tensor cores (compute capability ≥ 8.0); %s", precision.Precision, precision.Reason))
	}
	if msg == err.Error() {
		return err
	}
	return &advisedError{msg: msg, err: err}
}

// advisedError is an error whose message flagAdvice reworded.
type advisedError struct {
	msg string
	err error
}

func (e *advisedError) Error() string { return e.msg }
func (e *advisedError) Unwrap() error { return e.err }
