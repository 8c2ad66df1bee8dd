/// The node kernel (`NodeKernel`) against torch's composed ops (`NodeOps.Composed`) for every node
/// shape the cells use, both mixes (the paper's and each-op), and its gradients against central
/// differences of a plain-F# node in float64, which shares nothing with either.
module Lnmn.Tests.NodeKernelTests

open Expecto
open TorchSharp
open Lnmn.Core.Specs
open Lnmn.Core.Network
open Lnmn.Tests.TestUtil

/// Values and the gradients of Σ out ⊙ R for α, x1 and x2, through one arithmetic, of nodes mixing
/// as `mix` says.
let private run (mix: NodeMix) (arithmetic: NodeOps.NodeArithmetic) (evaluation: NodeOps.NodeEvaluation) (alpha: torch.Tensor) (x1: torch.Tensor) (x2: torch.Tensor) (r: torch.Tensor) =
    let leaf (t: torch.Tensor) = t.detach().clone().requires_grad_(true)
    let alpha, x1, x2 = leaf alpha, leaf x1, leaf x2
    let out = NodeOps.mixColumns arithmetic (NodeOps.columnsOf mix (NodeOps.opWeights evaluation alpha)) x1 x2
    (out * r).sum().backward ()
    let gradient (t: torch.Tensor) = if isNull t.grad then torch.zeros_like t else t.grad.clone()
    out.detach(), gradient alpha, gradient x1, gradient x2

/// The two mixes, each with a name for a test's title.
let private mixes = [ MixThenNormalise, "paper's node"; NormaliseEachOp, "each-op node" ]

/// |x| ≥ 0.5 for the inputs of a comparison that `mix` makes cancel: where an op's output hardly
/// depends on an input (choose_2 of a one-channel map is its sign; an each-op node normalises
/// every op), its true gradient is 0 and each path's float32 cancellation error grows as 1/‖op‖;
/// away from 0 both stay below 1e-5.
let private awayFromZero (mix: NodeMix) (t: torch.Tensor) =
    match mix with
    | MixThenNormalise -> t
    | NormaliseEachOp -> t.sign() * (t.abs() + 0.5)

let private expectSameNode (mix: NodeMix) (evaluation: NodeOps.NodeEvaluation) (cells: int64) (x1: torch.Tensor) (x2: torch.Tensor) =
    let alpha = torch.randn(cells, 6L)
    let shape = torch.broadcast_tensors(x1, x2).[0].shape
    let r = torch.randn([| shape.[0]; cells; shape.[2]; shape.[3]; shape.[4] |])
    let out, gAlpha, g1, g2 = run mix NodeOps.Composed evaluation alpha x1 x2 r
    for threads in [ 1; 2 ] do
        torch.set_num_threads threads
        let out', gAlpha', g1', g2' = run mix NodeOps.Kernel evaluation alpha x1 x2 r
        // Relative to the largest value where that exceeds 1.
        let close tolerance (actual: torch.Tensor) (expected: torch.Tensor) message =
            expectAllClose (tolerance * max 1.0 (expected.abs().max().item<float32>() |> float)) actual expected message
        close 1e-5 out' out $"{threads} thread(s): values"
        close 1e-4 gAlpha' gAlpha $"{threads} thread(s): dα"
        close 1e-5 g1' g1 $"{threads} thread(s): dx1"
        close 1e-5 g2' g2 $"{threads} thread(s): dx2"
    torch.set_num_threads 1

/// A float64 node by hand: out[b,k,p,:] = normalise(m), m = Σ_i w_i op_i(x1, x2) (the paper's) or
/// Σ_i w_i normalise(op_i(x1, x2)) (each-op), normalise(v) = v / ‖v‖ (0 where ‖v‖ < 1e-12), for one cell's op
/// weights w and inputs given as functions of (b, p, c).
let private nodeByHand (mix: NodeMix) (w: float[]) (x1: int -> int -> int -> float) (x2: int -> int -> int -> float) batch positions channels =
    let ops = [| min; max; (+); (*); (fun a _ -> a); (fun _ b -> b) |]
    let normalise (v: float[]) =
        let norm = sqrt (Array.sumBy (fun v -> v * v) v)
        if norm < 1e-12 then Array.zeroCreate v.Length else Array.map (fun x -> x / norm) v
    [| for b in 0 .. batch - 1 do
           for p in 0 .. positions - 1 do
               let op i = Array.init channels (fun c -> ops.[i] (x1 b p c) (x2 b p c))
               let term i = match mix with MixThenNormalise -> op i | NormaliseEachOp -> normalise (op i)
               let m = Array.init channels (fun c -> Array.sum (Array.init 6 (fun i -> w.[i] * (term i).[c])))
               yield! normalise m |]

[<Tests>]
let tests =
    testSequenced <| testList "node kernel" [
        // 12 channels: one vector of 8 and a scalar tail of 4.
        let B, H, W, C, k = 3L, 3L, 2L, 12L, 4L
        for mix, mixName in mixes do
            for name, x1, x2 in
                [ "pair node (two one-channel maps)", (fun () -> torch.randn([| B; 1L; H; W; 1L |])), (fun () -> torch.randn([| B; 1L; H; W; 1L |]))
                  "image node of 3-input cells (image, one map)", (fun () -> torch.randn([| B; 1L; H; W; C |])), (fun () -> torch.randn([| B; 1L; H; W; 1L |]))
                  "image node of 4-input cells (image, a map per cell)", (fun () -> torch.randn([| B; 1L; H; W; C |])), (fun () -> torch.randn([| B; k; H; W; 1L |]))
                  "text node (a node per cell, one text vector)", (fun () -> torch.randn([| B; k; H; W; C |])), (fun () -> torch.randn([| B; 1L; 1L; 1L; C |]))
                  "32 channels, no tail", (fun () -> torch.randn([| B; k; H; W; 32L |])), (fun () -> torch.randn([| B; 1L; 1L; 1L; 32L |])) ] do
                test $"{mixName}, {name}: values and gradients as torch's ops, 1 and 2 threads" {
                    use _ = torch.NewDisposeScope()
                    torch.random.manual_seed 5L |> ignore
                    expectSameNode mix NodeOps.NodeEvaluation.soft k (awayFromZero mix (x1 ())) (awayFromZero mix (x2 ()))
                }
        for mix, mixName in mixes do
            for op in NodeOp.all do
                test $"{mixName}, {NodeOp.name op} alone (hard-max α): as torch's ops" {
                    use _ = torch.NewDisposeScope()
                    torch.random.manual_seed 6L |> ignore
                    let alpha = torch.zeros(k, 6L)
                    alpha.[torch.TensorIndex.Colon, torch.TensorIndex.Single(int64 (NodeOp.index op))].fill_(1.0) |> ignore
                    let r = torch.randn([| B; k; H; W; C |])
                    let x1, x2 = awayFromZero NormaliseEachOp (torch.randn([| B; 1L; H; W; C |])), awayFromZero NormaliseEachOp (torch.randn([| B; k; H; W; 1L |]))
                    let out, _, g1, g2 = run mix NodeOps.Composed NodeOps.NodeEvaluation.hardMax alpha x1 x2 r
                    let out', gAlpha', g1', g2' = run mix NodeOps.Kernel NodeOps.NodeEvaluation.hardMax alpha x1 x2 r
                    expectAllClose 1e-5 out' out "values"
                    expectAllClose 1e-5 g1' g1 "dx1"
                    expectAllClose 1e-5 g2' g2 "dx2"
                    expectAllClose 0.0 gAlpha' (torch.zeros(k, 6L)) "hard-max α gets no gradient"
                }
        for mix, mixName in mixes do
            test $"{mixName}: ties in min and max, and a position whose mix is zero: as torch's ops" {
                use _ = torch.NewDisposeScope()
                torch.random.manual_seed 7L |> ignore
                // Small integers tie often; position (0, 0) of x1 and x2 is all zeros, so its mix is 0
                // and the norm is clamped there (no radial gradient).
                let x1 = torch.randint(-2L, 3L, [| B; 1L; H; W; C |]).to_type(torch.float32)
                let x2 = torch.randint(-2L, 3L, [| B; 1L; H; W; C |]).to_type(torch.float32)
                x1.[0, 0, 0, 0].zero_() |> ignore
                x2.[0, 0, 0, 0].zero_() |> ignore
                let ties = x1.eq(x2).sum().item<int64>()
                Expect.isGreaterThan ties 50L "the draw has ties"
                expectSameNode mix NodeOps.NodeEvaluation.soft 1L x1 x2
            }
        test "each-op node of the image and an all-zero map (the reference stack at step 0): as torch's ops" {
            use _ = torch.NewDisposeScope()
            torch.random.manual_seed 10L |> ignore
            // choose_2 and the product are zero at every position: they add nothing forward and,
            // below ε, pass no gradient back (torch's clamp would pass 1/ε = 1e12 times it).
            let x1, x2, r = torch.randn([| B; 1L; H; W; C |]), torch.zeros([| B; k; H; W; 1L |]), torch.randn([| B; k; H; W; C |])
            let alpha = torch.randn(k, 6L)
            let out, gAlpha, g1, g2 = run NormaliseEachOp NodeOps.Composed NodeOps.NodeEvaluation.soft alpha x1 x2 r
            let out', gAlpha', g1', g2' = run NormaliseEachOp NodeOps.Kernel NodeOps.NodeEvaluation.soft alpha x1 x2 r
            expectAllClose 1e-5 out' out "values"
            expectAllClose 1e-4 gAlpha' gAlpha "dα"
            expectAllClose 1e-5 g1' g1 "dx1"
            let scale = g2.abs().max().item<float32>() |> float
            Expect.isLessThan scale 1e3 "the map's gradient comes from min, max and the sum, not from 1/ε"
            expectAllClose 1e-5 g2' g2 "dx2"
        }
        for mix, mixName in mixes do
            for arithmetic in [ NodeOps.Kernel; NodeOps.Composed ] do
                test $"{mixName}, {arithmetic}: four one-hot product nodes after a zero map have finite gradients (the hard-max network at step 0)" {
                    use _ = torch.NewDisposeScope()
                    torch.random.manual_seed 11L |> ignore
                    // n1 = I ⊙ 0, n2 = n1 ⊙ c, n3 = n2 ⊙ 2I, n4 = n3 ⊙ c: every node is zero. With
                    // x / max(‖x‖, ε) each normalisation multiplied the gradient by 1e12 (two per
                    // each-op node), float32 overflowed and 0 · ∞ reached the image as NaN
                    // (docs/results.md, tenth round); now none passes.
                    let alpha: torch.Tensor = torch.full([| 1L; 6L |], (-1e4).ToScalar())
                    alpha.[0, int64 (NodeOp.index Product)].fill_(0.0) |> ignore
                    let weights = NodeOps.columnsOf mix (NodeOps.opWeights NodeOps.NodeEvaluation.hardMax alpha)
                    let image = torch.randn([| B; 1L; H; W; C |]).requires_grad_(true)
                    let text = torch.randn([| B; 1L; 1L; 1L; C |]).requires_grad_(true)
                    let node = NodeOps.mixColumns arithmetic weights
                    let n4 = node (node (node (node image (torch.zeros([| B; 1L; H; W; 1L |]))) text) (image * 2.0)) text
                    (n4 * torch.randn_like n4).sum().backward ()
                    expectAllClose 0.0 n4 (torch.zeros_like n4) "every node is zero"
                    Expect.isTrue (image.grad.isfinite().all().item<bool>()) "the image's gradient is finite"
                    Expect.isTrue (text.grad.isfinite().all().item<bool>()) "the text's gradient is finite"
                    expectAllClose 0.0 image.grad (torch.zeros_like image) "and zero: nothing reaches the output"
                }
        for mix, mixName in mixes do
            test $"{mixName}: an input that needs no gradient (the α step's image): the others' as torch's ops" {
                use _ = torch.NewDisposeScope()
                torch.random.manual_seed 9L |> ignore
                let x1, x2, r = awayFromZero mix (torch.randn([| B; 1L; H; W; C |])), awayFromZero mix (torch.randn([| B; k; H; W; 1L |])), torch.randn([| B; k; H; W; C |])
                let alpha = torch.randn(k, 6L)
                let gradients (arithmetic: NodeOps.NodeArithmetic) =
                    let alpha, x2 = alpha.clone().requires_grad_(true), x2.clone().requires_grad_(true)
                    let out = NodeOps.mixColumns arithmetic (NodeOps.columnsOf mix (alpha.softmax(-1L))) x1 x2
                    (out * r).sum().backward ()
                    alpha.grad.clone(), x2.grad.clone()
                let gAlpha, g2 = gradients NodeOps.Composed
                let gAlpha', g2' = gradients NodeOps.Kernel
                expectAllClose 1e-4 gAlpha' gAlpha "dα"
                expectAllClose 1e-5 g2' g2 "dx2"
            }
        for mix, mixName in mixes do
            test $"{mixName}: ops switched off: as torch's ops" {
                use _ = torch.NewDisposeScope()
                torch.random.manual_seed 8L |> ignore
                expectSameNode mix { NodeOps.NodeEvaluation.soft with DisabledOps = [ Max; Choose1 ] } k (awayFromZero mix (torch.randn([| B; 1L; H; W; C |]))) (awayFromZero mix (torch.randn([| B; k; H; W; 1L |])))
            }
        for mix, mixName in mixes do
            test $"{mixName}: forward and gradients against a float64 node by hand and its central differences" {
                use _ = torch.NewDisposeScope()
                let batch, positions, channels = 2, 3, 9
                let rng = System.Random 11
                let draw n = Array.init n (fun _ -> rng.NextDouble() * 2.0 - 1.0)
                let x1s, x2s, rs = draw (batch * positions * channels), draw (batch * positions), draw (batch * positions * channels)
                let alpha = [| 0.3; -0.2; 0.5; 0.1; -0.4; 0.2 |]
                let softmax (a: float[]) = let e = Array.map exp a in Array.map (fun v -> v / Array.sum e) e
                let loss (alpha: float[]) (x1s: float[]) (x2s: float[]) =
                    nodeByHand mix (softmax alpha) (fun b p c -> x1s.[(b * positions + p) * channels + c]) (fun b p _ -> x2s.[b * positions + p]) batch positions channels
                    |> Array.fold2 (fun acc r v -> acc + r * v) 0.0 rs
                let tensor (xs: float[]) (shape: int64[]) = torch.tensor(Array.map float32 xs).reshape(shape)
                let x1 = tensor x1s [| 2L; 1L; 3L; 1L; 9L |]
                let x2 = tensor x2s [| 2L; 1L; 3L; 1L; 1L |]
                let r = tensor rs [| 2L; 1L; 3L; 1L; 9L |]
                let out, gAlpha, g1, g2 = run mix NodeOps.Kernel NodeOps.NodeEvaluation.soft (tensor alpha [| 1L; 6L |]) x1 x2 r
                let expected = nodeByHand mix (softmax alpha) (fun b p c -> x1s.[(b * positions + p) * channels + c]) (fun b p _ -> x2s.[b * positions + p]) batch positions channels
                expectClose 1e-6 out expected "values"
                let h = 1e-6
                let central (xs: float[]) (f: float[] -> float) =
                    Array.init xs.Length (fun i ->
                        let shifted d = Array.mapi (fun j v -> if j = i then v + d else v) xs
                        (f (shifted h) - f (shifted -h)) / (2.0 * h))
                expectClose 1e-4 gAlpha (central alpha (fun a -> loss a x1s x2s)) "dα"
                expectClose 1e-4 g1 (central x1s (fun x -> loss alpha x x2s)) "dx1"
                expectClose 1e-4 g2 (central x2s (fun x -> loss alpha x1s x)) "dx2"
            }
        test "a trained checkpoint scores the same through the kernel and through torch's ops, soft and hard-max" {
            use _ = torch.NewDisposeScope()
            let network = ExportTests.loadNetwork (ExportTests.trainedCheckpoint.Force())
            let batch = NetworkTests.randomBatch 9L 16 6 network.Spec.Dims
            use _ = torch.no_grad ()
            for evaluation in [ NodeOps.NodeEvaluation.soft; NodeOps.NodeEvaluation.hardMax ] do
                let kernel = network.Forward(batch, evaluation).Logits
                let composed = network.Forward(batch, { evaluation with Arithmetic = NodeOps.Composed }).Logits
                expectAllClose 1e-4 kernel composed $"{evaluation.Mode}: logits"
                Expect.equal (values (kernel.argmax(-1L))) (values (composed.argmax(-1L))) $"{evaluation.Mode}: answers"
        }
        test "inputs broadcast along W alone (not a shape the cells make) run torch's ops" {
            use _ = torch.NewDisposeScope()
            let x1, x2 = torch.randn([| 1L; 1L; 2L; 3L; 4L |]), torch.randn([| 1L; 1L; 2L; 1L; 1L |])
            let coefficients = NodeOps.coefficients (torch.randn(1L, 6L).softmax(-1L))
            Expect.isFalse (NodeKernel.handles coefficients x1 x2) "the kernel declines"
            expectAllClose 1e-6 (NodeOps.mixNode NodeOps.Kernel coefficients x1 x2) (NodeOps.mixNode NodeOps.Composed coefficients x1 x2) "same node"
        }
        test "a node on float64 runs torch's ops (the kernel is float32 only)" {
            use _ = torch.NewDisposeScope()
            let x = torch.randn([| 1L; 1L; 2L; 2L; 3L |], dtype = torch.float64)
            let coefficients = NodeOps.coefficients (torch.ones([| 1L; 6L |], dtype = torch.float64).softmax(-1L))
            Expect.isFalse (NodeKernel.handles coefficients x x) "the kernel declines float64"
            expectAllClose 1e-12 (NodeOps.mixNode NodeOps.Kernel coefficients x x) (NodeOps.mixNode NodeOps.Composed coefficients x x) "same node"
        }
    ]
