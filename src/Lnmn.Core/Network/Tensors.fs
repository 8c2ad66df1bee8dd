/// Small tensor helpers shared by the network's parts.
module Lnmn.Core.Network.Tensors

open TorchSharp


/// A parameter initialised U(−1/√fanIn, 1/√fanIn), PyTorch's default for Linear and Conv layers.
let uniformParameter (shape: int64[]) (fanIn: int) =
    let bound = 1.0 / sqrt (double fanIn)
    let t = torch.empty(shape)
    torch.nn.init.uniform_(t, -bound, bound) |> ignore
    torch.nn.Parameter(t)

/// x / max(‖x‖₂, ε) along `dim`, ε = 1e-12 (`torch.nn.functional.normalize`), computed as
/// x · rsqrt(max(‖x‖₂², ε²)): the same values and gradients, and its backward is about twice as
/// fast (no division, no norm backward; measured in bench/Lnmn.Bench/Profile.fs).
/// The floor is a Scalar held to the end of the call: a run once died inside clamp_min with a
/// malformed Scalar (Scalar.h toDouble check) after 6,000 steps, which an implicit double → Scalar
/// conversion finalised by the GC while the native call still read it would explain.
let l2Normalize (dim: int64) (x: torch.Tensor) =
    use floor = (1e-24).ToScalar()
    x * x.square().sum(dim, keepdim = true).clamp_min(floor).rsqrt()

/// Softmax over the last dimension with positions where `valid` is false excluded.
let maskedSoftmax (valid: torch.Tensor) (scores: torch.Tensor) =
    scores.masked_fill(valid.logical_not(), System.Double.NegativeInfinity).softmax(-1L)

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
