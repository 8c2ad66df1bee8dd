/// A node O(x1, x2) = Σ_i softmax(α)_i · op_i(x1, x2) over min, max, +, ⊙, choose_1, choose_2,
/// then L2-normalised over channels.
///
/// Since min/max = (x1 + x2 ∓ |x1 − x2|)/2, the mixture is exactly
///   A·x1 + B·x2 + C·|x1 − x2| + D·x1⊙x2
/// with scalars A, B, C, D from the op weights. That keeps four full-size tensors for backward
/// instead of eight, the difference between fitting in memory at the paper's size or not.
module Lnmn.Core.Network.NodeOps

open TorchSharp

open Lnmn.Core.Specs

/// How α turns into op weights at evaluation.
type AlphaMode =
    /// softmax(α): the trained mixture.
    | Soft
    /// One-hot at argmax α per node (paper Table 2).
    | HardMax

/// How a node's arithmetic runs; both give the same values and gradients up to float rounding.
type NodeArithmetic =
    /// `NodeKernel`: one vectorised pass forward and one backward. float32 on the CPU; a node on
    /// anything else runs `Composed`.
    | Kernel
    /// Torch's ops composed, as first written: the reference the kernel is tested and benchmarked against.
    | Composed

/// α evaluation: the mode and the ops switched off in every node (paper Table 7), and how the
/// nodes are computed.
/// `Temperature` τ divides α before the softmax (soft mode only): 1 is the paper's softmax(α).
type NodeEvaluation = { Mode: AlphaMode; DisabledOps: NodeOp list; Arithmetic: NodeArithmetic; Temperature: float }

module NodeEvaluation =
    let soft = { Mode = Soft; DisabledOps = []; Arithmetic = Kernel; Temperature = 1.0 }
    let hardMax = { Mode = HardMax; DisabledOps = []; Arithmetic = Kernel; Temperature = 1.0 }
    /// softmax(α / τ): SNAS/GDAS's annealed relaxation, hard-max as τ → 0.
    let softAt (temperature: float) = { soft with Temperature = temperature }

/// Op weights (…, 6) from α (…, 6). A disabled op gets weight 0 and the others are renormalised,
/// as if the node had never had that op.
let opWeights (evaluation: NodeEvaluation) (alpha: torch.Tensor) : torch.Tensor =
    if List.length (List.distinct evaluation.DisabledOps) >= NodeOp.all.Length then
        invalidArg "evaluation" "every op is disabled: a node would have nothing to compute"
    let enabled = NodeOp.all |> List.map (fun op -> not (List.contains op evaluation.DisabledOps)) |> Array.ofList
    let valid = torch.tensor(enabled, device = alpha.device)
    let scores = Tensors.withScalar System.Double.NegativeInfinity (fun minusInfinity -> alpha.masked_fill(valid.logical_not(), minusInfinity))
    match evaluation.Mode with
    | Soft when evaluation.Temperature = 1.0 -> scores.softmax(-1L)
    | Soft -> Tensors.withScalar evaluation.Temperature (fun t -> (scores / t).softmax(-1L))
    | HardMax -> torch.nn.functional.one_hot(scores.argmax(-1L), 6L).to_type(alpha.dtype)

/// Coefficients (…, 4) = [A; B; C; D] of A·x1 + B·x2 + C·|x1 − x2| + D·x1⊙x2 from op weights (…, 6).
let coefficients (weights: torch.Tensor) : torch.Tensor =
    let w (op: NodeOp) = weights.select(-1L, int64 (NodeOp.index op))
    let half (x: torch.Tensor) = Tensors.withScalar 0.5 (fun h -> x * h)
    let minMax = half (w Min + w Max)
    torch.stack(
        [| minMax + w Sum + w Choose1
           minMax + w Sum + w Choose2
           half (w Max - w Min)
           w Product |], -1L)

/// The four coefficient columns of a (k, 4) coefficient tensor, each shaped (1, k, 1, 1, 1) to
/// scale a (B, k, H, W, C) node, and the (k, 4) tensor itself: computed once per forward, used at
/// every step. `EachOp`: the op weights (k, 6) of nodes that normalise each op (`NormaliseEachOp`),
/// whose mixture the four coefficients cannot express; None for the paper's nodes.
type Columns = { A: torch.Tensor; B: torch.Tensor; C: torch.Tensor; D: torch.Tensor; Coefficients: torch.Tensor; EachOp: torch.Tensor option }

let columns (coefficients: torch.Tensor) : Columns =
    let c (i: int64) = coefficients.select(1L, i).reshape(1L, -1L, 1L, 1L, 1L)
    { A = c 0L; B = c 1L; C = c 2L; D = c 3L; Coefficients = coefficients; EachOp = None }

/// The columns of nodes mixing as `mix` says, from op weights (k, 6).
let columnsOf (mix: NodeMix) (weights: torch.Tensor) : Columns =
    match mix with
    | MixThenNormalise -> columns (coefficients weights)
    | NormaliseEachOp -> { columns (coefficients weights) with EachOp = Some weights }

/// One node for k cells at once, channels last. x1, x2: (B, k or 1, H, W, C) or broadcastable to
/// it. Result (B, k, H, W, C') normalised over channels (the last dim: a reduction over a
/// contiguous dim is several times faster than over a strided one).
/// The product term is folded into the larger input's scale, A·x1 + D·x1⊙x2 = x1⊙(A + D·x2),
/// so multiplications by the smaller input (a text vector, a one-channel map) stay small.
let private mix (c: Columns) (x1: torch.Tensor) (x2: torch.Tensor) : torch.Tensor =
    Tensors.scoped List.singleton (fun () ->
        let spread = c.C * (x1 - x2).abs()
        let mixed =
            if x1.numel() >= x2.numel() then x1 * (c.A + c.D * x2) + (c.B * x2 + spread)
            else x2 * (c.B + c.D * x1) + (c.A * x1 + spread)
        Tensors.unitOrZero -1L mixed)

/// `NormaliseEachOp`'s node for k cells at once: normalise(Σ_i w_i · normalise(op_i(x1, x2))), each op
/// broadcast to the output's channels before its normalisation (a one-channel map a spread over D
/// channels is a/|a| · 1/√D, as the paper's node makes of it). Torch's ops, composed.
let private mixEachOp (weights: torch.Tensor) (x1: torch.Tensor) (x2: torch.Tensor) : torch.Tensor =
    Tensors.scoped List.singleton (fun () ->
        let w (op: NodeOp) = weights.select(1L, int64 (NodeOp.index op)).reshape(1L, -1L, 1L, 1L, 1L)
        let channels = max (Array.last x1.shape) (Array.last x2.shape)
        let unit (x: torch.Tensor) =
            let shape = Array.copy x.shape
            shape.[shape.Length - 1] <- channels
            Tensors.unitOrZero -1L (x.expand(shape))
        let mixed =
            w Min * unit (torch.minimum(x1, x2)) + w Max * unit (torch.maximum(x1, x2)) + w Sum * unit (x1 + x2)
            + w Product * unit (x1 * x2) + w Choose1 * unit x1 + w Choose2 * unit x2
        Tensors.unitOrZero -1L mixed)

/// Above this many output elements a node keeps only its inputs for backward and computes the rest
/// again there (`Recompute`). The paper's size has 48M per node and about eight such tensors saved
/// per node evaluation, 15 GB a step; the built-in size has 330k, where recomputing only costs time.
let private recomputeAbove = 1L <<< 22

let private outputElements (tensors: torch.Tensor list) =
    let rank = tensors |> List.map (fun t -> t.shape.Length) |> List.max
    let padded (t: torch.Tensor) = Array.append (Array.create (rank - t.shape.Length) 1L) t.shape
    tensors |> List.map padded |> List.reduce (Array.map2 max) |> Array.fold (*) 1L

/// `mix` in torch's ops, recomputed in backward when its output is large.
let private composed (c: Columns) (x1: torch.Tensor) (x2: torch.Tensor) : torch.Tensor =
    if outputElements [ c.A; x1; x2 ] <= recomputeAbove then mix c x1 x2
    else
        let recomputed inputs =
            match inputs with
            | [ a; b; cc; d; y1; y2 ] -> [ mix { A = a; B = b; C = cc; D = d; Coefficients = c.Coefficients; EachOp = None } y1 y2 ]
            | _ -> invalidArg "inputs" "six tensors"
        match Recompute.apply recomputed [ c.A; c.B; c.C; c.D; x1; x2 ] with
        | [ y ] -> y
        | _ -> invalidOp "one output"

/// What the kernels take for these columns: the mix, and its coefficients (k, 4) or op weights (k, 6).
let kernelOperands (c: Columns) =
    match c.EachOp with
    | Some weights -> NormaliseEachOp, weights
    | None -> MixThenNormalise, c.Coefficients

/// One node for k cells at once (`mix` or `mixEachOp`), computed as `arithmetic` says. The kernel
/// splits the batch over torch's thread count.
let mixColumns (arithmetic: NodeArithmetic) (c: Columns) (x1: torch.Tensor) (x2: torch.Tensor) : torch.Tensor =
    let nodeMix, parameters = kernelOperands c
    match arithmetic, c.EachOp with
    | Kernel, _ when NodeKernel.handles parameters x1 x2 -> NodeKernel.mix (torch.get_num_threads ()) nodeMix parameters x1 x2
    | _, Some weights -> mixEachOp weights x1 x2
    | _, None -> composed c x1 x2

/// `mixColumns` with coefficients (k, 4).
let mixNode (arithmetic: NodeArithmetic) (coefficients: torch.Tensor) (x1: torch.Tensor) (x2: torch.Tensor) : torch.Tensor =
    mixColumns arithmetic (columns coefficients) x1 x2
