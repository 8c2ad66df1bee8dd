/// Small tensor helpers shared by the network's parts.
module Lnmn.Core.Network.Tensors

open TorchSharp


/// A parameter initialised U(−1/√fanIn, 1/√fanIn), PyTorch's default for Linear and Conv layers.
let uniformParameter (shape: int64[]) (fanIn: int) =
    let bound = 1.0 / sqrt (double fanIn)
    let t = torch.empty(shape)
    torch.nn.init.uniform_(t, -bound, bound) |> ignore
    torch.nn.Parameter(t)

/// `op` given `value` as a Scalar held until `op` returns. TorchSharp turns a double argument into a
/// temporary Scalar that nothing holds once the native call has its handle, so the GC may finalise
/// it while the op still reads it; two runs died so (Scalar.h asserts in clamp_min and in pow, which
/// `Tensor.square` calls with a temporary 2). Ops on every node or step go through this.
let withScalar (value: float) (op: Scalar -> torch.Tensor) =
    use scalar = value.ToScalar()
    op scalar

/// x², as x·x: `Tensor.square` passes a temporary Scalar (see `withScalar`).
let square (x: torch.Tensor) = x * x

/// x / max(‖x‖₂, ε) along `dim`, ε = 1e-12 (`torch.nn.functional.normalize`), computed as
/// x · rsqrt(max(‖x‖₂², ε²)): the same values and gradients, and its backward is about twice as
/// fast (no division, no norm backward; measured in bench/Lnmn.Bench/Profile.fs).
let l2Normalize (dim: int64) (x: torch.Tensor) =
    let squaredNorm = (square x).sum(dim, keepdim = true)
    x * (withScalar 1e-24 squaredNorm.clamp_min).rsqrt()

/// A node's normalisation: x / ‖x‖₂ along `dim`, and 0, with no gradient, where ‖x‖₂ < ε = 1e-12.
/// `l2Normalize` gives such a vector x / ε, whose backward multiplies by 1 / ε: a one-hot node whose
/// op is zero (a product with the stack's zero map at the first step) passes 1e12 times its gradient
/// on, two such nodes in a row overflow float32, and 0 · ∞ sends NaN to the image (issue 25).
/// Elsewhere the two agree to the last digit unless 0 < ‖x‖₂ < ε.
let unitOrZero (dim: int64) (x: torch.Tensor) =
    let squaredNorm = (square x).sum(dim, keepdim = true)
    let kept = withScalar 1e-24 squaredNorm.ge
    x * ((withScalar 1e-24 squaredNorm.clamp_min).rsqrt() * kept.to_type(x.dtype))

/// Softmax over the last dimension with positions where `valid` is false excluded.
let maskedSoftmax (valid: torch.Tensor) (scores: torch.Tensor) =
    let masked = withScalar System.Double.NegativeInfinity (fun minusInfinity -> scores.masked_fill(valid.logical_not(), minusInfinity))
    masked.softmax(-1L)

/// Boolean (B, S) mask of the real (non-padding) positions of sequences of the given lengths.
let lengthMask (lengths: torch.Tensor) (maxLength: int64) =
    torch.arange(maxLength, device = lengths.device).unsqueeze(0L).lt(lengths.unsqueeze(1L))

/// `body ()` in a dispose scope of its own, keeping only the tensors `keep` picks from its result:
/// every other tensor made inside is freed on return rather than when the enclosing scope ends
/// (a training step's scope would otherwise hold every temporary of the forward and backward).
/// Autograd keeps what backward needs by itself.
let scoped (keep: 'T -> torch.Tensor list) (body: unit -> 'T) : 'T =
    use scope = torch.NewDisposeScope()
    let result = body ()
    for x in keep result do
        if scope.Contains x then x.MoveToOuterDisposeScope() |> ignore
    result
