/// The cells' last node and the output layers' reads of it as one pass forward and one backward
/// (`NodeKernel` computes the node, n = normalise_c(mix(x1, x2)), either mix), so the last node,
/// which feeds only the output layers, never materialises, nor does its gradient.
///
/// The first k_att cells are attention cells: their logits w_k·n_p at every position p (no bias).
/// The other k_ans cells are answer cells: their sums Σ_p s_ip·n_p under S position weightings
/// s_i (the pooling's). Layout as `NodeKernel`'s, with w (k_att, C) and s (B, S, P = H·W); the
/// result is one (B, k_att·P + k_ans·S·C) tensor: each row the logits (k_att, P), then the sums
/// (k_ans, S, C).
module Lnmn.Core.Network.ReadoutKernel

#nowarn "9" // native pointers into tensor memory

open System
open System.Collections.Generic
open System.Runtime.CompilerServices
open System.Runtime.Intrinsics
open Microsoft.FSharp.NativeInterop
open TorchSharp
open Lnmn.Core.Specs
open Lnmn.Core.Network.NodeKernel

/// The readout's operands past the node's: attention weights (k_att, C), position weightings
/// (B, S, P), and where the answer cells' sums start in an output row.
type private Readout =
    { AttentionCells: int; Weights: nativeptr<float32>; Maps: int; Pooling: nativeptr<float32>; Row: int; SumsStart: int }

let private readoutOf (e: Extent) (attentionCells: int) (weights: torch.Tensor) (pooling: torch.Tensor) =
    let maps = int pooling.shape.[1]
    { AttentionCells = attentionCells; Weights = dataOf weights; Maps = maps; Pooling = dataOf pooling
      Row = attentionCells * e.Positions + (e.Cells - attentionCells) * maps * e.Channels
      SumsStart = attentionCells * e.Positions }

/// Σ_c x_c·y_c over C values.
[<MethodImpl(MethodImplOptions.AggressiveOptimization)>]
let private dot (x: nativeptr<float32>) (y: nativeptr<float32>) (channels: int) =
    let mutable c = 0
    let mutable sum = 0.0f
    if channels >= 8 then
        let mutable sums = Vector256<float32>.Zero
        while c + 8 <= channels do
            sums <- sums + Vector256.Load(NativePtr.add x c) * Vector256.Load(NativePtr.add y c)
            c <- c + 8
        sum <- Vector256.Sum sums
    while c < channels do
        sum <- sum + NativePtr.get x c * NativePtr.get y c
        c <- c + 1
    sum

/// y = f·x + (y where `add`, else 0) over C values.
[<MethodImpl(MethodImplOptions.AggressiveOptimization)>]
let private scaledInto (add: bool) (y: nativeptr<float32>) (f: float32) (x: nativeptr<float32>) (channels: int) =
    let mutable c = 0
    if channels >= 8 then
        let v = Vector256.Create f
        while c + 8 <= channels do
            let before = if add then Vector256.Load(NativePtr.add y c) else Vector256<float32>.Zero
            Vector256.Store(before + v * Vector256.Load(NativePtr.add x c), NativePtr.add y c)
            c <- c + 8
    while c < channels do
        NativePtr.set y c ((if add then NativePtr.get y c else 0.0f) + f * NativePtr.get x c)
        c <- c + 1

let private addScaled (y: nativeptr<float32>) (f: float32) (x: nativeptr<float32>) (channels: int) = scaledInto true y f x channels
let private setScaled (y: nativeptr<float32>) (f: float32) (x: nativeptr<float32>) (channels: int) = scaledInto false y f x channels

/// One batch range forward into the zeroed output, each step over a row's positions before the
/// next (`RowScratch`).
[<MethodImpl(MethodImplOptions.AggressiveOptimization)>]
let private forwardRange (o: Operands) (r: Readout) (first: int) (last: int) =
    let cells, positions, channels = o.Extent.Cells, o.Extent.Positions, o.Extent.Channels
    use rows = new RowScratch(positions, channels)
    for b in first .. last - 1 do
        let row = NativePtr.add o.Out (b * r.Row)
        for k in 0 .. cells - 1 do
            rowForward o rows b k (rows.Mix 0)
            for p in 0 .. positions - 1 do
                let norm, m = NativePtr.get rows.Norms p, rows.Mix p
                if k < r.AttentionCells then NativePtr.set row (k * positions + p) (norm * dot (NativePtr.add r.Weights (k * channels)) m channels)
                else
                    let sums = NativePtr.add row (r.SumsStart + (k - r.AttentionCells) * r.Maps * channels)
                    for i in 0 .. r.Maps - 1 do
                        addScaled (NativePtr.add sums (i * channels)) (norm * NativePtr.get r.Pooling ((b * r.Maps + i) * positions + p)) m channels

let private forward (threads: int) (mix: NodeMix) (attentionCells: int) (coefficients: torch.Tensor) (x1: torch.Tensor) (x2: torch.Tensor) (weights: torch.Tensor) (pooling: torch.Tensor) =
    let e = extentOf coefficients x1 x2
    let out = torch.zeros([| int64 e.Batch; int64 (attentionCells * e.Positions + (e.Cells - attentionCells) * int pooling.shape.[1] * e.Channels) |])
    let o = operands e mix coefficients x1 x2 out
    let r = readoutOf e attentionCells weights pooling
    overBatch (min threads e.Batch) e.Batch (fun _ first last -> forwardRange o r first last)
    for t in [ coefficients; x1; x2; weights; pooling ] do GC.KeepAlive t
    out

/// One batch range backward from the output's gradient (o.Out): the inputs' gradients into g1, g2
/// and the pooling's into gPooling (zeroed, the inputs' shapes), the coefficients' (or op weights') into `sums`
/// (`rowSums`) and the attention weights' into `weightSums` (B × k_att × C, zeroed, a row per batch
/// row as `rowSums`); a null gradient is not wanted.
[<MethodImpl(MethodImplOptions.AggressiveOptimization)>]
let private backwardRange (o: Operands) (r: Readout) (g1: nativeptr<float32>) (g2: nativeptr<float32>) (gPooling: nativeptr<float32>) (sums: float[][]) (weightSums: nativeptr<float32>) (first: int) (last: int) =
    let cells, positions, channels = o.Extent.Cells, o.Extent.Positions, o.Extent.Channels
    use rows = new RowScratch(positions, channels)
    for b in first .. last - 1 do
        let row = NativePtr.add o.Out (b * r.Row)
        for k in 0 .. cells - 1 do
            let attention = k < r.AttentionCells
            let weights = NativePtr.add r.Weights (k * channels)
            let weightGradient = gradientAt weightSums ((b * r.AttentionCells + k) * channels)
            let sumGradients = NativePtr.add row (r.SumsStart + (k - r.AttentionCells) * r.Maps * channels)
            let mutable cell = CellSums()
            for p in 0 .. positions - 1 do
                // The node's gradient at p: the logit's times w_k, or Σ_i s_ip times sum i's.
                let g = rows.Gradient p
                if attention then setScaled g (NativePtr.get row (k * positions + p)) weights channels
                else
                    let weightings = NativePtr.add r.Pooling (b * r.Maps * positions + p) // s_ip at i·P
                    setScaled g (NativePtr.read weightings) sumGradients channels
                    for i in 1 .. r.Maps - 1 do addScaled g (NativePtr.get weightings (i * positions)) (NativePtr.add sumGradients (i * channels)) channels
            rowBackward o rows b k (rows.Gradient 0) g1 g2 &cell
            // n = norm·m: d w_k += logit gradient · n; d s_ip += sum i's gradient · n.
            for p in 0 .. positions - 1 do
                let norm, m = NativePtr.get rows.Norms p, rows.Mix p
                if attention then
                    if not (NativePtr.isNullPtr weightGradient) then addScaled weightGradient (NativePtr.get row (k * positions + p) * norm) m channels
                elif not (NativePtr.isNullPtr gPooling) then
                    for i in 0 .. r.Maps - 1 do
                        let at = (b * r.Maps + i) * positions + p
                        NativePtr.set gPooling at (NativePtr.get gPooling at + norm * dot (NativePtr.add sumGradients (i * channels)) m channels)
            finishCell o sums.[b] k cell rows.WeightSums

/// Gradients of the coefficients (k, 4) or op weights (k, 6), x1, x2, the attention weights (k_att, C) and the pooling
/// (B, S, P) from the output's; those of x1, x2, the weights and the pooling left zero where `wanted`
/// says not.
let private backward (threads: int) (mix: NodeMix) (wanted1: bool, wanted2: bool, wantedWeights: bool, wantedPooling: bool) (attentionCells: int) (coefficients: torch.Tensor) (x1: torch.Tensor) (x2: torch.Tensor) (weights: torch.Tensor) (pooling: torch.Tensor) (gradient: torch.Tensor) =
    let e = extentOf coefficients x1 x2
    let o = operands e mix coefficients x1 x2 gradient
    let r = readoutOf e attentionCells weights pooling
    // Threads own batch ranges, so an input shared over the batch would be written by all of them.
    let parts = if o.S1.Batch = 0 || o.S2.Batch = 0 then 1 else max 1 (min threads e.Batch)
    let g1, g2, gPooling = torch.zeros_like x1, torch.zeros_like x2, torch.zeros_like pooling
    let p1, p2, pPooling = gradientMemory wanted1 g1, gradientMemory wanted2 g2, gradientMemory wantedPooling gPooling
    let coefficientSums = rowSums e.Batch e.Cells (widthOf mix)
    let weightSums = torch.zeros([| int64 e.Batch; int64 attentionCells; int64 e.Channels |])
    let pWeightSums = gradientMemory wantedWeights weightSums
    overBatch parts e.Batch (fun _ first last -> backwardRange o r p1 p2 pPooling coefficientSums pWeightSums first last)
    // The rows summed in order: the same total however the batch was split.
    let gWeights = torch.zeros(int64 attentionCells, int64 e.Channels)
    let width = attentionCells * e.Channels
    if wantedWeights then
        for b in 0 .. e.Batch - 1 do addScaled (dataOf gWeights) 1.0f (NativePtr.add pWeightSums (b * width)) width
    for t in [ coefficients; x1; x2; weights; pooling; gradient; g1; g2; gPooling; weightSums; gWeights ] do GC.KeepAlive t
    coefficientGradient e.Cells (widthOf mix) coefficientSums, g1, g2, gWeights, gPooling

type private Node() =
    inherit torch.autograd.SingleTensorFunction<Node>()
    override _.Name = "ReadoutKernel"

    // vars: threads, the mix, attention cells, then coefficients (k, 4) or op weights (k, 6), x1,
    // x2, weights (k_att, C), pooling (B, S, P), each contiguous.
    override _.forward(ctx, vars) =
        let threads, mix, attentionCells = vars.[0] :?> int, vars.[1] :?> NodeMix, vars.[2] :?> int
        let tensors = [ for v in Array.skip 3 vars -> v :?> torch.Tensor ]
        ctx.save_data("threads", threads)
        ctx.save_data("mix", mix)
        ctx.save_data("attention_cells", attentionCells)
        ctx.save_data("requires_grad", [ for x in tensors -> x.requires_grad ])
        ctx.save_for_backward(List tensors)
        match tensors with
        | [ coefficients; x1; x2; weights; pooling ] -> forward threads mix attentionCells coefficients x1 x2 weights pooling
        | _ -> invalidArg "vars" "coefficients, x1, x2, weights, pooling"

    override _.backward(ctx, gradient) =
        let threads, mix, attentionCells = ctx.get_data "threads" :?> int, ctx.get_data "mix" :?> NodeMix, ctx.get_data "attention_cells" :?> int
        let requiresGrad = ctx.get_data "requires_grad" :?> bool list
        match List.ofSeq (ctx.get_saved_variables()) with
        | [ coefficients; x1; x2; weights; pooling ] ->
            let gc, g1, g2, gw, gs = backward threads mix (requiresGrad.[1], requiresGrad.[2], requiresGrad.[3], requiresGrad.[4]) attentionCells coefficients x1 x2 weights pooling (gradient.contiguous())
            let wanted (g: torch.Tensor) required = if required then g else null
            List<torch.Tensor>(null :: null :: null :: List.map2 wanted [ gc; g1; g2; gw; gs ] requiresGrad)
        | _ -> invalidOp "five saved tensors"

/// Whether the kernel computes this node and readout (the node as `NodeKernel.handles` says, float32
/// CPU weights (k_att, C) and pooling (B, S, P)); otherwise `FusedCells` composes torch's ops.
let handles (coefficients: torch.Tensor) (x1: torch.Tensor) (x2: torch.Tensor) (weights: torch.Tensor) (pooling: torch.Tensor) =
    match tryExtent coefficients x1 x2 with
    | None -> false
    | Some e ->
        let cpuFloat (t: torch.Tensor) = t.dtype = torch.ScalarType.Float32 && t.device_type = DeviceType.CPU
        cpuFloat weights && cpuFloat pooling && weights.dim() = 2L && pooling.dim() = 3L
        && int weights.shape.[0] <= e.Cells && (weights.shape.[0] = 0L || int weights.shape.[1] = e.Channels)
        && int pooling.shape.[0] = e.Batch && int pooling.shape.[2] = e.Positions

/// The attention logits (B, k_att, P) and answer sums (B, k − k_att, S, C) of the node `mix` makes
/// of coefficients (k, 4) or op weights (k, 6) and inputs as `NodeKernel.mix` takes them, read with
/// weights (k_att, C) and position weightings (B, S, P). `threads` splits the batch.
let readout (threads: int) (mix: NodeMix) (coefficients: torch.Tensor) (x1: torch.Tensor) (x2: torch.Tensor) (weights: torch.Tensor) (pooling: torch.Tensor) =
    let attentionCells = int weights.shape.[0]
    let out = Node.apply(box threads, box mix, box attentionCells, box (coefficients.contiguous()), box (x1.contiguous()), box (x2.contiguous()), box (weights.contiguous()), box (pooling.contiguous()))
    let batch, cells, maps = out.shape.[0], coefficients.shape.[0], pooling.shape.[1]
    let positions, channels = pooling.shape.[2], (max x1.shape.[4] x2.shape.[4])
    let k = int64 attentionCells
    out.narrow(1L, 0L, k * positions).view(batch, k, positions),
    out.narrow(1L, k * positions, (cells - k) * maps * channels).view(batch, cells - k, maps, channels)
