/// One node, out = normalise_c(A·x1 + B·x2 + C·|x1 − x2| + D·x1⊙x2), as one vectorised pass over
/// the data forward and one backward (`NodeOps` explains the four coefficients), instead of a dozen
/// torch ops each reading and writing full-size tensors. Backward keeps only the inputs and
/// recomputes the mix, so a node saves nothing of its own size.
///
/// `NodeMix.NormaliseEachOp`'s node, out = normalise_c(Σ_i w_i·op_i / ‖op_i‖), is at each position
/// the same mix with coefficients from w_i / ‖op_i‖, so it runs through the same passes, with one
/// pass more for the six ops' norms forward and one more for their normalisations backward.
///
/// Layout: every tensor is (B, k, H, W, C), channels last; an input may be 1 along any of B, k, C,
/// and along H and W together (a text vector), read with stride 0. The coefficients are (k, 4), or
/// for each-op nodes the op weights (k, 6).
/// float32 on the CPU only; `NodeOps` keeps the composed torch ops for everything else and as the
/// reference the tests compare this with.
module Lnmn.Core.Network.NodeKernel

#nowarn "9" // native pointers into tensor memory

open System
open System.Collections.Generic
open System.Runtime.CompilerServices
open System.Runtime.InteropServices
open System.Runtime.Intrinsics
open System.Runtime.Intrinsics.X86
open System.Threading.Tasks
open Microsoft.FSharp.NativeInterop
open TorchSharp
open Lnmn.Core.Specs

// TorchSharp 0.107 has no public data pointer; its own native export gives the first element.
[<DllImport("LibTorchSharp")>]
extern nativeint private THSTensor_data(nativeint tensor)

let internal dataOf (t: torch.Tensor) : nativeptr<float32> = NativePtr.ofNativeInt (THSTensor_data t.Handle)

/// ε² of `Tensors.unitOrZero`: below it a vector normalises to 0, with no gradient.
let internal floor = 1e-24f

/// Where an input's element (b, k, p, c) lies: strides in elements, 0 along a broadcast dim.
[<Struct>]
type internal Strides = { Batch: int; Cell: int; Position: int; Channel: int }

/// The loop's extent: batch, cells, positions (H·W), channels.
[<Struct>]
type internal Extent = { Batch: int; Cells: int; Positions: int; Channels: int }

let internal stridesOf (x: torch.Tensor) =
    let s = x.shape
    let positions = s.[2] * s.[3]
    let along size stride = if size = 1L then 0 else int stride
    { Batch = along s.[0] (s.[1] * positions * s.[4])
      Cell = along s.[1] (positions * s.[4])
      Position = along positions s.[4]
      Channel = along s.[4] 1L }

/// The loop's extent, or None where the tensors are not float32 CPU inputs (B or 1, k or 1, H, W or
/// both 1, C or 1) of k = coefficients' rows cells.
let internal tryExtent (coefficients: torch.Tensor) (x1: torch.Tensor) (x2: torch.Tensor) =
    let cpuFloat (t: torch.Tensor) = t.dtype = torch.ScalarType.Float32 && t.device_type = DeviceType.CPU
    if not (cpuFloat coefficients && coefficients.dim() = 2L && x1.dim() = 5L && x2.dim() = 5L) then None
    else
        let dim i = max x1.shape.[i] x2.shape.[i]
        let fits (x: torch.Tensor) =
            let s = x.shape
            cpuFloat x
            && (s.[0] = 1L || s.[0] = dim 0) && (s.[1] = 1L || s.[1] = coefficients.shape.[0]) && (s.[4] = 1L || s.[4] = dim 4)
            && (s.[2] * s.[3] = 1L || (s.[2] = dim 2 && s.[3] = dim 3))
        if fits x1 && fits x2 then Some { Batch = int (dim 0); Cells = int coefficients.shape.[0]; Positions = int (dim 2 * dim 3); Channels = int (dim 4) }
        else None

let internal extentOf (coefficients: torch.Tensor) (x1: torch.Tensor) (x2: torch.Tensor) =
    match tryExtent coefficients x1 x2 with
    | Some e -> e
    | None -> invalidArg "inputs" $"node kernel: inputs {x1.shape} and {x2.shape} do not broadcast to {coefficients.shape.[0]} cells"

let inline internal read (x: nativeptr<float32>) (step: int) (c: int) =
    if step = 0 then Vector256.Create(NativePtr.read x) else Vector256.Load(NativePtr.add x c)

let inline internal readOne (x: nativeptr<float32>) (step: int) (c: int) = NativePtr.get x (c * step)

/// a·b + c, fused where the CPU has FMA: one instruction and one rounding instead of two.
let inline internal multiplyAdd (a: Vector256<float32>) (b: Vector256<float32>) (c: Vector256<float32>) =
    if Fma.IsSupported then Fma.MultiplyAdd(a, b, c) else a * b + c

// The hot functions take scalars and pointers, not records: a struct record passed by value is
// copied at every field access (measured: 45 ns a one-channel position with a record of the four
// coefficients as vectors, against a few ns without).

/// Writes the unnormalised mix of one position into `m` (C values); returns Σ m² and, for backward,
/// Σ g·m against the output's gradient `g` in the same pass (forward passes m as g and ignores it).
[<MethodImpl(MethodImplOptions.AggressiveOptimization)>]
let internal mixAndDot (coefficients: nativeptr<float32>) (x1: nativeptr<float32>) (step1: int) (x2: nativeptr<float32>) (step2: int) (channels: int) (m: nativeptr<float32>) (g: nativeptr<float32>) =
    let a, b, cc, d = NativePtr.get coefficients 0, NativePtr.get coefficients 1, NativePtr.get coefficients 2, NativePtr.get coefficients 3
    let mutable sum = 0.0f
    let mutable dot = 0.0f
    let mutable c = 0
    if channels >= 8 then
        let va, vb, vc, vd = Vector256.Create a, Vector256.Create b, Vector256.Create cc, Vector256.Create d
        let mutable squares = Vector256<float32>.Zero
        let mutable dots = Vector256<float32>.Zero
        while c + 8 <= channels do
            let v1 = read x1 step1 c
            let v2 = read x2 step2 c
            let mixed = multiplyAdd v1 (multiplyAdd vd v2 va) (multiplyAdd vc (Vector256.Abs(v1 - v2)) (vb * v2))
            Vector256.Store(mixed, NativePtr.add m c)
            squares <- multiplyAdd mixed mixed squares
            dots <- multiplyAdd mixed (Vector256.Load(NativePtr.add g c)) dots
            c <- c + 8
        sum <- Vector256.Sum squares
        dot <- Vector256.Sum dots
    while c < channels do
        let v1 = readOne x1 step1 c
        let v2 = readOne x2 step2 c
        let mixed = v1 * (a + d * v2) + (b * v2 + cc * MathF.Abs(v1 - v2))
        NativePtr.set m c mixed
        sum <- sum + mixed * mixed
        dot <- dot + mixed * NativePtr.get g c
        c <- c + 1
    struct (sum, dot)

/// 1 / ‖m‖, and 0 where ‖m‖ < ε, as `Tensors.unitOrZero` scales m.
let inline internal inverseNorm (squares: float32) = if squares >= floor then 1.0f / MathF.Sqrt squares else 0.0f

[<MethodImpl(MethodImplOptions.AggressiveOptimization)>]
let private scale (factor: float32) (m: nativeptr<float32>) (channels: int) =
    let mutable c = 0
    if channels >= 8 then
        let v = Vector256.Create factor
        while c + 8 <= channels do
            Vector256.Store(Vector256.Load(NativePtr.add m c) * v, NativePtr.add m c)
            c <- c + 8
    while c < channels do
        NativePtr.set m c (NativePtr.get m c * factor)
        c <- c + 1

// NormaliseEachOp's nodes. Over the basis [x1; x2; |x1 − x2|; x1⊙x2] the six ops, in `NodeOp.all`
// order, are min = (x1 + x2 − |x1 − x2|)/2, max = (x1 + x2 + |x1 − x2|)/2, sum, product, choose_1
// and choose_2; the sums below spell out those rows.

/// A position's slot of scratch (`RowScratch`): an each-op node's four coefficients there, its six
/// ops' 1 / ‖op_i‖ (0 below ε; the first six lanes of eight, stored as one vector,
/// `eachOpCoefficients`), then what backward's second half needs from its first.
let internal scratchSize = 24
let private inverseAt = 8
/// Backward's constants from its first half to its second (`backwardSums`, `backwardInputs`): an
/// each-op node's six entries of Q at 16–21, and either node's 1 / ‖m‖ (0 below ε) and radial factor.
let private quadraticAt = 16
let private inverseNormAt = 22
let private radialAt = 23

/// The lane sums of a..h as the lanes of one vector: a transposing tree of horizontal adds, three
/// levels for eight sums where `Vector256.Sum` takes three for each.
let inline internal laneSums (a: Vector256<float32>) (b: Vector256<float32>) (c: Vector256<float32>) (d: Vector256<float32>) (e: Vector256<float32>) (f: Vector256<float32>) (g: Vector256<float32>) (h: Vector256<float32>) =
    if Avx.IsSupported then
        let abcd = Avx.HorizontalAdd(Avx.HorizontalAdd(a, b), Avx.HorizontalAdd(c, d)) // a..d over lanes 0–3 | 4–7
        let efgh = Avx.HorizontalAdd(Avx.HorizontalAdd(e, f), Avx.HorizontalAdd(g, h))
        Vector256.Create(abcd.GetLower() + abcd.GetUpper(), efgh.GetLower() + efgh.GetUpper())
    else
        Vector256.Create(Vector256.Sum a, Vector256.Sum b, Vector256.Sum c, Vector256.Sum d, Vector256.Sum e, Vector256.Sum f, Vector256.Sum g, Vector256.Sum h)

/// Σ_c op_i² of the six ops at one position, over the output's channels (a one-channel input
/// counts once per channel, as the broadcast op it is), in lanes 0–5 (6 and 7 zero).
[<MethodImpl(MethodImplOptions.AggressiveOptimization)>]
let private opSquares (x1: nativeptr<float32>) (step1: int) (x2: nativeptr<float32>) (step2: int) (channels: int) =
    let mutable c = 0
    let mutable vector = Vector256<float32>.Zero
    if channels >= 8 then
        let mutable vLo = Vector256<float32>.Zero
        let mutable vHi = Vector256<float32>.Zero
        let mutable vSum = Vector256<float32>.Zero
        let mutable vProduct = Vector256<float32>.Zero
        let mutable vFirst = Vector256<float32>.Zero
        let mutable vSecond = Vector256<float32>.Zero
        while c + 8 <= channels do
            let v1 = read x1 step1 c
            let v2 = read x2 step2 c
            let l, h, s, p = Vector256.Min(v1, v2), Vector256.Max(v1, v2), v1 + v2, v1 * v2
            vLo <- multiplyAdd l l vLo
            vHi <- multiplyAdd h h vHi
            vSum <- multiplyAdd s s vSum
            vProduct <- multiplyAdd p p vProduct
            vFirst <- multiplyAdd v1 v1 vFirst
            vSecond <- multiplyAdd v2 v2 vSecond
            c <- c + 8
        vector <- laneSums vLo vHi vSum vProduct vFirst vSecond Vector256<float32>.Zero Vector256<float32>.Zero
    if c = channels then vector
    else
        let mutable lo = 0.0f
        let mutable hi = 0.0f
        let mutable sum = 0.0f
        let mutable product = 0.0f
        let mutable first = 0.0f
        let mutable second = 0.0f
        while c < channels do
            let v1 = readOne x1 step1 c
            let v2 = readOne x2 step2 c
            let l, h, s, p = MathF.Min(v1, v2), MathF.Max(v1, v2), v1 + v2, v1 * v2
            lo <- lo + l * l
            hi <- hi + h * h
            sum <- sum + s * s
            product <- product + p * p
            first <- first + v1 * v1
            second <- second + v2 * v2
            c <- c + 1
        vector + Vector256.Create(lo, hi, sum, product, first, second, 0.0f, 0.0f)

/// An each-op node at one position: from op weights w (6) and the inputs, the coefficients of
/// Σ_i w_i·op_i / ‖op_i‖ (0 below ε) into `scratch` (4), the ops' inverse norms after them
/// (`scratchSize`).
[<MethodImpl(MethodImplOptions.AggressiveOptimization)>]
let internal eachOpCoefficients (w: nativeptr<float32>) (x1: nativeptr<float32>) (step1: int) (x2: nativeptr<float32>) (step2: int) (channels: int) (scratch: nativeptr<float32>) =
    let squares = opSquares x1 step1 x2 step2 channels
    // 1 / ‖op_i‖, 0 where ‖op_i‖ < ε, in every lane at once (lanes 6 and 7 are zero and not read).
    let vFloor = Vector256.Create floor
    let inverse =
        Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(squares, vFloor),
            Vector256.Create 1.0f / Vector256.Sqrt(Vector256.Max(squares, vFloor)), Vector256<float32>.Zero)
    Vector256.Store(inverse, NativePtr.add scratch inverseAt)
    // w has six floats: four loaded as a vector, two as scalars, none read past its end.
    let weights = Vector256.Create(Vector128.Load w, Vector128.Create(NativePtr.get w 4, NativePtr.get w 5, 0.0f, 0.0f))
    let beta = weights * inverse
    let lo, hi, sum, product, first, second = beta.GetElement 0, beta.GetElement 1, beta.GetElement 2, beta.GetElement 3, beta.GetElement 4, beta.GetElement 5
    let half = 0.5f * (lo + hi)
    NativePtr.set scratch 0 (half + sum + first)
    NativePtr.set scratch 1 (half + sum + second)
    NativePtr.set scratch 2 (0.5f * (hi - lo))
    NativePtr.set scratch 3 product

/// The batch split into at most `parts` contiguous ranges, run in parallel, each given its index.
let internal overBatch (parts: int) (batch: int) (body: int -> int -> int -> unit) =
    if parts <= 1 then body 0 0 batch
    else Parallel.For(0, parts, fun i -> body i (batch * i / parts) (batch * (i + 1) / parts)) |> ignore

/// Pointers and strides of one node evaluation: how it mixes, its coefficients (k, 4) or op weights
/// (k, 6) as `Mix` says, the inputs, and the output or its gradient (B, k, P, C), contiguous.
type internal Operands =
    { Extent: Extent; Mix: NodeMix; Coefficients: nativeptr<float32>
      X1: nativeptr<float32>; S1: Strides; X2: nativeptr<float32>; S2: Strides; Out: nativeptr<float32> }

/// How many numbers a cell's node has: four coefficients, or six op weights.
let internal widthOf (mix: NodeMix) = match mix with MixThenNormalise -> 4 | NormaliseEachOp -> 6

/// Before a position's passes: an each-op node's coefficients, from its ops' norms, into the slot.
let inline internal prepareSlot (o: Operands) (k: int) (x1: nativeptr<float32>) (x2: nativeptr<float32>) (slot: nativeptr<float32>) =
    match o.Mix with
    | MixThenNormalise -> ()
    | NormaliseEachOp -> eachOpCoefficients (NativePtr.add o.Coefficients (6 * k)) x1 o.S1.Channel x2 o.S2.Channel o.Extent.Channels slot

/// Cell k's coefficients at a position: the cell's own, or those `prepareSlot` left in the slot.
let inline internal slotCoefficients (o: Operands) (k: int) (slot: nativeptr<float32>) =
    match o.Mix with
    | MixThenNormalise -> NativePtr.add o.Coefficients (4 * k)
    | NormaliseEachOp -> slot

/// Native memory for one row of positions (one batch row and cell): a `scratchSize` slot, a norm,
/// the mix and an output gradient (C each) per position, and an each-op node's op-weight sums.
/// A kernel runs each of its steps over all of a row's positions before the next, so the CPU
/// overlaps positions where one position's steps are a chain, each waiting for the last's sums.
type internal RowScratch(positions: int, channels: int) =
    let floats = positions * (scratchSize + 1 + 2 * channels) + 8
    let memory = NativeMemory.AllocZeroed(unativeint (floats * sizeof<float32>))
    let first: nativeptr<float32> = NativePtr.ofVoidPtr memory
    member _.At(p: int) = NativePtr.add first (p * scratchSize)
    member _.Norms = NativePtr.add first (positions * scratchSize)
    member _.Mix(p: int) = NativePtr.add first (positions * (scratchSize + 1) + p * channels)
    member _.Gradient(p: int) = NativePtr.add first (positions * (scratchSize + 1 + channels) + p * channels)
    member _.WeightSums = NativePtr.add first (floats - 8)
    interface IDisposable with
        member _.Dispose() = NativeMemory.Free memory

/// Where x1's and x2's elements of batch b, cell k, position p start.
let inline internal offsets (o: Operands) (b: int) (k: int) (p: int) =
    struct (b * o.S1.Batch + k * o.S1.Cell + p * o.S1.Position, b * o.S2.Batch + k * o.S2.Cell + p * o.S2.Position)

/// `prepareSlot` at every position of one row (batch row b, cell k): both passes' first step.
let private prepareRow (o: Operands) (rows: RowScratch) (b: int) (k: int) =
    for p in 0 .. o.Extent.Positions - 1 do
        let struct (at1, at2) = offsets o b k p
        prepareSlot o k (NativePtr.add o.X1 at1) (NativePtr.add o.X2 at2) (rows.At p)

/// Forward for one row (batch row b, cell k): each position's unnormalised mix into `mixes` + p·C
/// and its 1 / ‖m‖ (0 below ε) into `rows.Norms`. The node kernel writes the mixes into its output and
/// scales them; the readout keeps them in `rows.Mix`.
let internal rowForward (o: Operands) (rows: RowScratch) (b: int) (k: int) (mixes: nativeptr<float32>) =
    let positions, channels = o.Extent.Positions, o.Extent.Channels
    prepareRow o rows b k
    for p in 0 .. positions - 1 do
        let struct (at1, at2) = offsets o b k p
        let m = NativePtr.add mixes (p * channels)
        let struct (squares, _) = mixAndDot (slotCoefficients o k (rows.At p)) (NativePtr.add o.X1 at1) o.S1.Channel (NativePtr.add o.X2 at2) o.S2.Channel channels m m
        NativePtr.set rows.Norms p (inverseNorm squares)

[<MethodImpl(MethodImplOptions.AggressiveOptimization)>]
let private forwardRange (o: Operands) (first: int) (last: int) =
    let cells, positions, channels = o.Extent.Cells, o.Extent.Positions, o.Extent.Channels
    use rows = new RowScratch(positions, channels)
    for b in first .. last - 1 do
        for k in 0 .. cells - 1 do
            let out = NativePtr.add o.Out ((b * cells + k) * positions * channels)
            rowForward o rows b k out
            for p in 0 .. positions - 1 do
                scale (NativePtr.get rows.Norms p) (NativePtr.add out (p * channels)) channels

let internal operands (e: Extent) (mix: NodeMix) (coefficients: torch.Tensor) (x1: torch.Tensor) (x2: torch.Tensor) (out: torch.Tensor) =
    { Extent = e; Mix = mix; Coefficients = dataOf coefficients
      X1 = dataOf x1; S1 = stridesOf x1; X2 = dataOf x2; S2 = stridesOf x2; Out = dataOf out }

let private forward (threads: int) (mix: NodeMix) (coefficients: torch.Tensor) (x1: torch.Tensor) (x2: torch.Tensor) =
    let e = extentOf coefficients x1 x2
    let out = torch.empty([| int64 e.Batch; int64 e.Cells; max x1.shape.[2] x2.shape.[2]; max x1.shape.[3] x2.shape.[3]; int64 e.Channels |])
    let o = operands e mix coefficients x1 x2 out
    overBatch (min threads e.Batch) e.Batch (fun _ first last -> forwardRange o first last)
    for t in [ coefficients; x1; x2 ] do GC.KeepAlive t
    out

/// An input gradient's memory, or null where the input needs no gradient: backward then skips it
/// (the α step's frozen inputs).
let internal gradientMemory (required: bool) (g: torch.Tensor) : nativeptr<float32> = if required then dataOf g else NativePtr.nullPtr

/// `g` + offset, null where `g` is.
let inline internal gradientAt (g: nativeptr<float32>) (offset: int) = if NativePtr.isNullPtr g then g else NativePtr.add g offset

/// Adds the lanes of `v` into the input gradient at `g` + c (null: none wanted): C values, or,
/// where the input is one channel (step 0), their sum into `one`.
let inline private accumulate (g: nativeptr<float32>) (step: int) (c: int) (v: Vector256<float32>) (one: byref<Vector256<float32>>) =
    if step = 0 then one <- one + v
    elif not (NativePtr.isNullPtr g) then Vector256.Store(Vector256.Load(NativePtr.add g c) + v, NativePtr.add g c)

let inline private accumulateOne (g: nativeptr<float32>) (step: int) (c: int) (v: float32) =
    if not (NativePtr.isNullPtr g) then
        let q = NativePtr.add g (c * step)
        NativePtr.write q (NativePtr.read q + v)

/// A cell's coefficient gradient summed over its positions: vector lanes and the scalar tail.
[<Struct; NoEquality; NoComparison>]
type internal CellSums =
    val mutable A: Vector256<float32>
    val mutable B: Vector256<float32>
    val mutable C: Vector256<float32>
    val mutable D: Vector256<float32>
    val mutable TailA: float32
    val mutable TailB: float32
    val mutable TailC: float32
    val mutable TailD: float32

/// Per batch row, the coefficients' (or op weights') gradient (k × width, float64), so that their
/// total, summed in row order (`coefficientGradient`), does not depend on how the batch was split
/// over threads.
let internal rowSums (batch: int) (cells: int) (width: int) = Array.init batch (fun _ -> Array.zeroCreate<float> (width * cells))

/// The coefficients' (or op weights') gradient (k, width) from `rowSums`.
let internal coefficientGradient (cells: int) (width: int) (rows: float[][]) =
    torch.tensor(Array.init (width * cells) (fun i -> rows |> Array.sumBy (fun s -> s.[i]) |> float32)).reshape(int64 cells, int64 width)

/// Adds a cell's sums into its row of `sums` (k × 4).
let internal addCellSums (sums: float[]) (k: int) (cell: CellSums) =
    sums.[4 * k] <- sums.[4 * k] + float (Vector256.Sum cell.A + cell.TailA)
    sums.[4 * k + 1] <- sums.[4 * k + 1] + float (Vector256.Sum cell.B + cell.TailB)
    sums.[4 * k + 2] <- sums.[4 * k + 2] + float (Vector256.Sum cell.C + cell.TailC)
    sums.[4 * k + 3] <- sums.[4 * k + 3] + float (Vector256.Sum cell.D + cell.TailD)

/// The paper's node, backward's first half at one position from its output gradient `g` (C
/// values): the unnormalised mix into `m` (C floats), r = 1 / ‖m‖ (0 below ε) and the radial factor
/// into the slot. Returns r.
let private paperSums (coefficients: nativeptr<float32>) (x1: nativeptr<float32>) (channel1: int) (x2: nativeptr<float32>) (channel2: int) (channels: int) (m: nativeptr<float32>) (g: nativeptr<float32>) (slot: nativeptr<float32>) =
    let struct (squares, gm) = mixAndDot coefficients x1 channel1 x2 channel2 channels m g
    let r = inverseNorm squares
    NativePtr.set slot inverseNormAt r
    // d out_c / d m_j = r·δ_cj − r³·m_c·m_j, both 0 where ‖m‖ < ε (r = 0 there).
    NativePtr.set slot radialAt (gm * r * r * r)
    r

/// The paper's node, backward's second half: adds the inputs' gradients into q1, q2 (the inputs'
/// gradients at this position, null where not wanted) and the coefficients' into `cell`.
[<MethodImpl(MethodImplOptions.AggressiveOptimization)>]
let private paperInputs (coefficients: nativeptr<float32>) (x1: nativeptr<float32>) (channel1: int) (x2: nativeptr<float32>) (channel2: int) (channels: int) (m: nativeptr<float32>) (g: nativeptr<float32>) (q1: nativeptr<float32>) (q2: nativeptr<float32>) (cell: byref<CellSums>) (slot: nativeptr<float32>) =
    let a, bb, cc, d = NativePtr.get coefficients 0, NativePtr.get coefficients 1, NativePtr.get coefficients 2, NativePtr.get coefficients 3
    let r, radial = NativePtr.get slot inverseNormAt, NativePtr.get slot radialAt
    let zero = Vector256<float32>.Zero
    let mutable c = 0
    if channels >= 8 then
        let va, vb, vc, vd = Vector256.Create a, Vector256.Create bb, Vector256.Create cc, Vector256.Create d
        let vr, vRadial = Vector256.Create r, Vector256.Create radial
        let mutable dA, dB, dC, dD = cell.A, cell.B, cell.C, cell.D
        let mutable one1, one2 = zero, zero
        while c + 8 <= channels do
            let v1 = read x1 channel1 c
            let v2 = read x2 channel2 c
            let dm = vr * Vector256.Load(NativePtr.add g c) - vRadial * Vector256.Load(NativePtr.add m c)
            let difference = v1 - v2
            // C·sign(x1 − x2), 0 at a tie as in torch's abs backward.
            let signed =
                Vector256.ConditionalSelect(Vector256.GreaterThan(difference, zero), vc,
                    Vector256.ConditionalSelect(Vector256.LessThan(difference, zero), -vc, zero))
            accumulate q1 channel1 c (dm * (va + vd * v2 + signed)) &one1
            accumulate q2 channel2 c (dm * (vb + vd * v1 - signed)) &one2
            dA <- multiplyAdd dm v1 dA
            dB <- multiplyAdd dm v2 dB
            dC <- multiplyAdd dm (Vector256.Abs difference) dC
            dD <- multiplyAdd dm (v1 * v2) dD
            c <- c + 8
        cell.A <- dA
        cell.B <- dB
        cell.C <- dC
        cell.D <- dD
        if channel1 = 0 && not (NativePtr.isNullPtr q1) then NativePtr.write q1 (NativePtr.read q1 + Vector256.Sum one1)
        if channel2 = 0 && not (NativePtr.isNullPtr q2) then NativePtr.write q2 (NativePtr.read q2 + Vector256.Sum one2)
    while c < channels do
        let v1 = readOne x1 channel1 c
        let v2 = readOne x2 channel2 c
        let dm = r * NativePtr.get g c - radial * NativePtr.get m c
        let difference = v1 - v2
        let signed = if difference > 0.0f then cc elif difference < 0.0f then -cc else 0.0f
        accumulateOne q1 channel1 c (dm * (a + d * v2 + signed))
        accumulateOne q2 channel2 c (dm * (bb + d * v1 - signed))
        cell.TailA <- cell.TailA + dm * v1
        cell.TailB <- cell.TailB + dm * v2
        cell.TailC <- cell.TailC + dm * MathF.Abs difference
        cell.TailD <- cell.TailD + dm * v1 * v2
        c <- c + 1

/// An each-op node's backward at one position (inputs at x1, x2), past the ops' norms (in the slot,
/// `eachOpCoefficients`), in two passes. The first (here) computes the mix m (into `m`),
/// ‖m‖², g·m and each basis term's dots with g and with m ([x1; x2; |x1 − x2|; x1⊙x2]), which give
/// e_j = Σ_c dm_c·basis_j for the mix's gradient dm = r·g − r³(g·m)·m without a pass over dm. With
/// F_i = op_i·dm: dL/dw_i = F_i / ‖op_i‖ into `weightSums` (6), and each op normalisation's radial
/// term, −w_i·F_i / ‖op_i‖³ · op_i, joins the mix's gradient in the second pass (`eachOpInputs`)
/// through Q's entries, left in the slot with r and the radial factor. Returns r = 1 / ‖m‖ (0 below ε).
[<MethodImpl(MethodImplOptions.AggressiveOptimization)>]
let private eachOpSums (w: nativeptr<float32>) (slot: nativeptr<float32>) (x1: nativeptr<float32>) (channel1: int) (x2: nativeptr<float32>) (channel2: int) (channels: int) (m: nativeptr<float32>) (g: nativeptr<float32>) (weightSums: nativeptr<float32>) =
    let a, b, cc, d = NativePtr.get slot 0, NativePtr.get slot 1, NativePtr.get slot 2, NativePtr.get slot 3
    let mutable squares = 0.0f
    let mutable gm = 0.0f
    let mutable g0 = 0.0f
    let mutable g1 = 0.0f
    let mutable g2 = 0.0f
    let mutable g3 = 0.0f
    let mutable m0 = 0.0f
    let mutable m1 = 0.0f
    let mutable m2 = 0.0f
    let mutable m3 = 0.0f
    let mutable c = 0
    if channels >= 8 then
        let va, vb, vc, vd = Vector256.Create a, Vector256.Create b, Vector256.Create cc, Vector256.Create d
        let mutable vSquares = Vector256<float32>.Zero
        let mutable vGm = Vector256<float32>.Zero
        let mutable vG0 = Vector256<float32>.Zero
        let mutable vG1 = Vector256<float32>.Zero
        let mutable vG2 = Vector256<float32>.Zero
        let mutable vG3 = Vector256<float32>.Zero
        let mutable vM0 = Vector256<float32>.Zero
        let mutable vM1 = Vector256<float32>.Zero
        let mutable vM2 = Vector256<float32>.Zero
        let mutable vM3 = Vector256<float32>.Zero
        while c + 8 <= channels do
            let v1 = read x1 channel1 c
            let v2 = read x2 channel2 c
            let spread = Vector256.Abs(v1 - v2)
            let product = v1 * v2
            let mixed = multiplyAdd v1 (multiplyAdd vd v2 va) (multiplyAdd vc spread (vb * v2))
            Vector256.Store(mixed, NativePtr.add m c)
            let gv = Vector256.Load(NativePtr.add g c)
            vSquares <- multiplyAdd mixed mixed vSquares
            vGm <- multiplyAdd mixed gv vGm
            vG0 <- multiplyAdd gv v1 vG0
            vG1 <- multiplyAdd gv v2 vG1
            vG2 <- multiplyAdd gv spread vG2
            vG3 <- multiplyAdd gv product vG3
            vM0 <- multiplyAdd mixed v1 vM0
            vM1 <- multiplyAdd mixed v2 vM1
            vM2 <- multiplyAdd mixed spread vM2
            vM3 <- multiplyAdd mixed product vM3
            c <- c + 8
        let sums = laneSums vSquares vGm vG0 vG1 vG2 vG3 vM0 vM1
        squares <- sums.GetElement 0
        gm <- sums.GetElement 1
        g0 <- sums.GetElement 2
        g1 <- sums.GetElement 3
        g2 <- sums.GetElement 4
        g3 <- sums.GetElement 5
        m0 <- sums.GetElement 6
        m1 <- sums.GetElement 7
        m2 <- Vector256.Sum vM2
        m3 <- Vector256.Sum vM3
    while c < channels do
        let v1 = readOne x1 channel1 c
        let v2 = readOne x2 channel2 c
        let spread = MathF.Abs(v1 - v2)
        let product = v1 * v2
        let mixed = v1 * (a + d * v2) + (b * v2 + cc * spread)
        NativePtr.set m c mixed
        let gv = NativePtr.get g c
        squares <- squares + mixed * mixed
        gm <- gm + mixed * gv
        g0 <- g0 + gv * v1
        g1 <- g1 + gv * v2
        g2 <- g2 + gv * spread
        g3 <- g3 + gv * product
        m0 <- m0 + mixed * v1
        m1 <- m1 + mixed * v2
        m2 <- m2 + mixed * spread
        m3 <- m3 + mixed * product
        c <- c + 1
    let r = inverseNorm squares
    // d out_c / d m_j = r·δ_cj − r³·m_c·m_j, both 0 where ‖m‖ < ε (r = 0 there).
    let radial = gm * r * r * r
    let e0, e1, e2, e3 = r * g0 - radial * m0, r * g1 - radial * m1, r * g2 - radial * m2, r * g3 - radial * m3
    // γ_i = w_i·F_i / ‖op_i‖³, 0 where ‖op_i‖ < ε (its inverse norm is 0 there); the weight's
    // gradient on the way.
    let inline gamma i f =
        let inverse = NativePtr.get slot (inverseAt + i)
        NativePtr.set weightSums i (NativePtr.get weightSums i + inverse * f)
        NativePtr.get w i * f * inverse * inverse * inverse
    let gLo, gHi = gamma 0 (0.5f * (e0 + e1 - e2)), gamma 1 (0.5f * (e0 + e1 + e2))
    let gSum, gProduct, gFirst, gSecond = gamma 2 (e0 + e1), gamma 3 e3, gamma 4 e0, gamma 5 e1
    // The radial terms' gradient on the basis is −Q·basis, Q = Σ_i γ_i·row_i ⊗ row_i; with the rows
    // above, Q's only entries: q00, q01, q02 = q12, q11, q22 and q33.
    let quarter = 0.25f * (gLo + gHi)
    let q01 = quarter + gSum
    let q00, q11, q02, q22, q33 = q01 + gFirst, q01 + gSecond, 0.25f * (gHi - gLo), quarter, gProduct
    NativePtr.set slot quadraticAt q00
    NativePtr.set slot (quadraticAt + 1) q01
    NativePtr.set slot (quadraticAt + 2) q02
    NativePtr.set slot (quadraticAt + 3) q11
    NativePtr.set slot (quadraticAt + 4) q22
    NativePtr.set slot (quadraticAt + 5) q33
    NativePtr.set slot inverseNormAt r
    NativePtr.set slot radialAt radial
    r

/// An each-op node's second pass at one position (`eachOpSums` left its constants in the slot): the
/// inputs' gradients into q1, q2 (null where not wanted).
[<MethodImpl(MethodImplOptions.AggressiveOptimization)>]
let private eachOpInputs (slot: nativeptr<float32>) (x1: nativeptr<float32>) (channel1: int) (x2: nativeptr<float32>) (channel2: int) (channels: int) (m: nativeptr<float32>) (g: nativeptr<float32>) (q1: nativeptr<float32>) (q2: nativeptr<float32>) =
    let a, b, cc, d = NativePtr.get slot 0, NativePtr.get slot 1, NativePtr.get slot 2, NativePtr.get slot 3
    let q00, q01, q02 = NativePtr.get slot quadraticAt, NativePtr.get slot (quadraticAt + 1), NativePtr.get slot (quadraticAt + 2)
    let q11, q22, q33 = NativePtr.get slot (quadraticAt + 3), NativePtr.get slot (quadraticAt + 4), NativePtr.get slot (quadraticAt + 5)
    let r, radial = NativePtr.get slot inverseNormAt, NativePtr.get slot radialAt
    let vectorEnd = channels - channels % 8
    if not (NativePtr.isNullPtr q1 && NativePtr.isNullPtr q2) then
        let zero = Vector256<float32>.Zero
        let mutable c = 0
        if channels >= 8 then
            let va, vb, vc, vd = Vector256.Create a, Vector256.Create b, Vector256.Create cc, Vector256.Create d
            let vr, vRadial = Vector256.Create r, Vector256.Create radial
            let v00, v01, v02, v11 = Vector256.Create q00, Vector256.Create q01, Vector256.Create q02, Vector256.Create q11
            let v22, v33 = Vector256.Create q22, Vector256.Create q33
            let mutable one1, one2 = zero, zero
            while c < vectorEnd do
                let v1 = read x1 channel1 c
                let v2 = read x2 channel2 c
                let dm = vr * Vector256.Load(NativePtr.add g c) - vRadial * Vector256.Load(NativePtr.add m c)
                let difference = v1 - v2
                let spread = Vector256.Abs difference
                // The gradient on each basis term: the mix's, less the ops' radial terms.
                let d0 = va * dm - (v00 * v1 + v01 * v2 + v02 * spread)
                let d1 = vb * dm - (v01 * v1 + v11 * v2 + v02 * spread)
                let d2 = vc * dm - (v02 * (v1 + v2) + v22 * spread)
                let d3 = vd * dm - v33 * v1 * v2
                // sign(x1 − x2)·d2, 0 at a tie as in torch's abs backward.
                let signed =
                    Vector256.ConditionalSelect(Vector256.GreaterThan(difference, zero), d2,
                        Vector256.ConditionalSelect(Vector256.LessThan(difference, zero), -d2, zero))
                accumulate q1 channel1 c (d0 + signed + v2 * d3) &one1
                accumulate q2 channel2 c (d1 - signed + v1 * d3) &one2
                c <- c + 8
            if channel1 = 0 && not (NativePtr.isNullPtr q1) then NativePtr.write q1 (NativePtr.read q1 + Vector256.Sum one1)
            if channel2 = 0 && not (NativePtr.isNullPtr q2) then NativePtr.write q2 (NativePtr.read q2 + Vector256.Sum one2)
        while c < channels do
            let v1 = readOne x1 channel1 c
            let v2 = readOne x2 channel2 c
            let dm = r * NativePtr.get g c - radial * NativePtr.get m c
            let difference = v1 - v2
            let spread = MathF.Abs difference
            let d0 = a * dm - (q00 * v1 + q01 * v2 + q02 * spread)
            let d1 = b * dm - (q01 * v1 + q11 * v2 + q02 * spread)
            let d2 = cc * dm - (q02 * (v1 + v2) + q22 * spread)
            let d3 = d * dm - q33 * v1 * v2
            let signed = if difference > 0.0f then d2 elif difference < 0.0f then -d2 else 0.0f
            accumulateOne q1 channel1 c (d0 + signed + v2 * d3)
            accumulateOne q2 channel2 c (d1 - signed + v1 * d3)
            c <- c + 1

// Backward runs, like forward, each step over all of a row's positions before the next
// (`rowBackward`): `prepareSlot` (an each-op node's op norms), `backwardSums`, `backwardInputs`.

/// Backward's first half for cell k at one position (inputs at x1, x2; output gradient g): the mix
/// into `m`, an each-op node's op weights' gradient into `weightSums`, what the second half needs
/// into the slot. Returns 1 / ‖m‖ (0 below ε).
let internal backwardSums (o: Operands) (k: int) (x1: nativeptr<float32>) (x2: nativeptr<float32>) (m: nativeptr<float32>) (g: nativeptr<float32>) (slot: nativeptr<float32>) (weightSums: nativeptr<float32>) =
    let channel1, channel2, channels = o.S1.Channel, o.S2.Channel, o.Extent.Channels
    match o.Mix with
    | MixThenNormalise -> paperSums (NativePtr.add o.Coefficients (4 * k)) x1 channel1 x2 channel2 channels m g slot
    | NormaliseEachOp -> eachOpSums (NativePtr.add o.Coefficients (6 * k)) slot x1 channel1 x2 channel2 channels m g weightSums

/// Backward's second half: the inputs' gradients into q1, q2 (null where not wanted), the paper's
/// coefficients' gradient into `cell`.
let internal backwardInputs (o: Operands) (k: int) (x1: nativeptr<float32>) (x2: nativeptr<float32>) (m: nativeptr<float32>) (g: nativeptr<float32>) (q1: nativeptr<float32>) (q2: nativeptr<float32>) (cell: byref<CellSums>) (slot: nativeptr<float32>) =
    let channel1, channel2, channels = o.S1.Channel, o.S2.Channel, o.Extent.Channels
    match o.Mix with
    | MixThenNormalise -> paperInputs (NativePtr.add o.Coefficients (4 * k)) x1 channel1 x2 channel2 channels m g q1 q2 &cell slot
    | NormaliseEachOp -> eachOpInputs slot x1 channel1 x2 channel2 channels m g q1 q2

/// After a cell's positions: its coefficients' gradient (from `cell`) or op weights' (from
/// `weightSums`, then zeroed) into its row of `rowSums`.
let internal finishCell (o: Operands) (row: float[]) (k: int) (cell: CellSums) (weightSums: nativeptr<float32>) =
    match o.Mix with
    | MixThenNormalise -> addCellSums row k cell
    | NormaliseEachOp ->
        for i in 0 .. 5 do
            row.[6 * k + i] <- row.[6 * k + i] + float (NativePtr.get weightSums i)
            NativePtr.set weightSums i 0.0f

/// Backward for one row (batch row b, cell k) from the output's gradient at `gradients` + p·C: the
/// mixes into `rows.Mix`, 1 / ‖m‖ (0 below ε) into `rows.Norms`, the inputs' gradients into g1, g2 (null
/// where not wanted), the coefficients' into `cell` or an each-op node's into `rows.WeightSums`
/// (`finishCell` takes both).
let internal rowBackward (o: Operands) (rows: RowScratch) (b: int) (k: int) (gradients: nativeptr<float32>) (g1: nativeptr<float32>) (g2: nativeptr<float32>) (cell: byref<CellSums>) =
    let positions, channels = o.Extent.Positions, o.Extent.Channels
    prepareRow o rows b k
    for p in 0 .. positions - 1 do
        let struct (at1, at2) = offsets o b k p
        let g = NativePtr.add gradients (p * channels)
        NativePtr.set rows.Norms p (backwardSums o k (NativePtr.add o.X1 at1) (NativePtr.add o.X2 at2) (rows.Mix p) g (rows.At p) rows.WeightSums)
    for p in 0 .. positions - 1 do
        let struct (at1, at2) = offsets o b k p
        let g = NativePtr.add gradients (p * channels)
        backwardInputs o k (NativePtr.add o.X1 at1) (NativePtr.add o.X2 at2) (rows.Mix p) g (gradientAt g1 at1) (gradientAt g2 at2) &cell (rows.At p)

/// One batch range of the backward pass: input gradients into g1, g2 (zeroed, the inputs' shapes;
/// null where not wanted) and the coefficients' into `sums` (`rowSums`).
[<MethodImpl(MethodImplOptions.AggressiveOptimization)>]
let private backwardRange (o: Operands) (g1: nativeptr<float32>) (g2: nativeptr<float32>) (sums: float[][]) (first: int) (last: int) =
    let cells, positions, channels = o.Extent.Cells, o.Extent.Positions, o.Extent.Channels
    use rows = new RowScratch(positions, channels)
    for b in first .. last - 1 do
        for k in 0 .. cells - 1 do
            let mutable cell = CellSums()
            rowBackward o rows b k (NativePtr.add o.Out ((b * cells + k) * positions * channels)) g1 g2 &cell
            finishCell o sums.[b] k cell rows.WeightSums

/// Gradients of x1, x2 (their own shapes; left zero where `wanted` says not) and of the
/// coefficients (k, 4) or op weights (k, 6) from the output's.
let private backward (threads: int) (mix: NodeMix) (wanted1: bool, wanted2: bool) (coefficients: torch.Tensor) (x1: torch.Tensor) (x2: torch.Tensor) (gradient: torch.Tensor) =
    let e = extentOf coefficients x1 x2
    let o = operands e mix coefficients x1 x2 gradient
    // Threads own batch ranges, so an input shared over the batch would be written by all of them.
    let parts = if o.S1.Batch = 0 || o.S2.Batch = 0 then 1 else max 1 (min threads e.Batch)
    let g1, g2 = torch.zeros_like x1, torch.zeros_like x2
    let p1, p2 = gradientMemory wanted1 g1, gradientMemory wanted2 g2
    let coefficientSums = rowSums e.Batch e.Cells (widthOf mix)
    overBatch parts e.Batch (fun _ first last -> backwardRange o p1 p2 coefficientSums first last)
    for t in [ coefficients; x1; x2; gradient; g1; g2 ] do GC.KeepAlive t
    g1, g2, coefficientGradient e.Cells (widthOf mix) coefficientSums

type private Node() =
    inherit torch.autograd.SingleTensorFunction<Node>()
    override _.Name = "NodeKernel"

    // vars: threads, the mix, then coefficients (k, 4) or op weights (k, 6), x1, x2, each contiguous.
    override _.forward(ctx, vars) =
        let threads, mix = vars.[0] :?> int, vars.[1] :?> NodeMix
        let tensors = [ for v in Array.skip 2 vars -> v :?> torch.Tensor ]
        ctx.save_data("threads", threads)
        ctx.save_data("mix", mix)
        ctx.save_data("requires_grad", [ for x in tensors -> x.requires_grad ])
        ctx.save_for_backward(List tensors)
        match tensors with
        | [ coefficients; x1; x2 ] -> forward threads mix coefficients x1 x2
        | _ -> invalidArg "vars" "coefficients, x1, x2"

    override _.backward(ctx, gradient) =
        let threads, mix = ctx.get_data "threads" :?> int, ctx.get_data "mix" :?> NodeMix
        let requiresGrad = ctx.get_data "requires_grad" :?> bool list
        match List.ofSeq (ctx.get_saved_variables()) with
        | [ coefficients; x1; x2 ] ->
            let g1, g2, gc = backward threads mix (requiresGrad.[1], requiresGrad.[2]) coefficients x1 x2 (gradient.contiguous())
            let wanted (g: torch.Tensor) required = if required then g else null
            List<torch.Tensor>(null :: null :: List.map2 wanted [ gc; g1; g2 ] requiresGrad)
        | _ -> invalidOp "three saved tensors"

/// Whether the kernel computes a node of these tensors (float32 on the CPU, in the shapes above);
/// otherwise `NodeOps` uses torch's ops.
let handles (coefficients: torch.Tensor) (x1: torch.Tensor) (x2: torch.Tensor) = (tryExtent coefficients x1 x2).IsSome

/// The node for coefficients (k, 4) = [A; B; C; D] (`MixThenNormalise`: normalise_c(A·x1 + B·x2 +
/// C·|x1 − x2| + D·x1⊙x2)) or op weights (k, 6) (`NormaliseEachOp`: normalise_c(Σ_i w_i·op_i / ‖op_i‖))
/// and inputs (B or 1, k or 1, H, W or 1, 1, C or 1); result (B, k, H, W, C). `threads` splits the batch.
let mix (threads: int) (mix: NodeMix) (coefficients: torch.Tensor) (x1: torch.Tensor) (x2: torch.Tensor) : torch.Tensor =
    Node.apply(box threads, box mix, box (coefficients.contiguous()), box (x1.contiguous()), box (x2.contiguous()))
