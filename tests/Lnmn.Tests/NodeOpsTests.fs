module Lnmn.Tests.NodeOpsTests

open Expecto
open TorchSharp
open Lnmn.Core.Specs
open Lnmn.Core.Network
open Lnmn.Tests.TestUtil

// x1, x2: one cell, a 1×2 grid, 2 channels last: shape (B=1, k=1, H=1, W=2, C=2).
let private x1v = [ 3.0; -1.0; 4.0; 2.0 ]
let private x2v = [ 1.0; 2.0; -2.0; 5.0 ]
let private shape = [| 1L; 1L; 1L; 2L; 2L |]

/// Plain-F# reference: apply `op` elementwise, then L2-normalise each grid position over channels.
let private normalisedByHand (combined: float list) =
    // channel c at position w is combined.[2w + c]
    [ for w in 0 .. 1 do
        for c in 0 .. 1 do
            let norm = sqrt (combined.[2 * w] ** 2.0 + combined.[2 * w + 1] ** 2.0)
            combined.[2 * w + c] / norm ]

let private applyOp op a b =
    match op with
    | Min -> min a b | Max -> max a b | Sum -> a + b | Product -> a * b | Choose1 -> a | Choose2 -> b

/// Six separate ops and a weighted sum, written with torch ops: a second implementation of a node.
let sixOpNode (weights: torch.Tensor) (x1: torch.Tensor) (x2: torch.Tensor) =
    let both = torch.broadcast_tensors(x1, x2)
    let x1, x2 = both.[0], both.[1]
    let w (op: NodeOp) = weights.select(-1L, int64 (NodeOp.index op)).reshape(1L, -1L, 1L, 1L, 1L)
    let mixed =
        w Min * torch.minimum(x1, x2) + w Max * torch.maximum(x1, x2) + w Sum * (x1 + x2)
        + w Product * (x1 * x2) + w Choose1 * x1 + w Choose2 * x2
    Lnmn.Core.Network.Tensors.l2Normalize -1L mixed

let private node (alpha: float list) evaluation =
    let coefficients = NodeOps.coefficients (NodeOps.opWeights evaluation (tensorOf [| 1L; 6L |] alpha))
    NodeOps.mixNode NodeOps.Composed coefficients (tensorOf shape x1v) (tensorOf shape x2v)

[<Tests>]
let tests =
    testList "node ops" [
        for op in NodeOp.all do
            test $"a one-hot node computes {NodeOp.name op} by hand" {
                use _ = torch.NewDisposeScope()
                let alpha = NodeOp.all |> List.map (fun o -> if o = op then 5.0 else 0.0)
                let expected = normalisedByHand (List.map2 (applyOp op) x1v x2v)
                expectClose 1e-6 (node alpha NodeOps.NodeEvaluation.hardMax) (Array.ofList expected) (NodeOp.name op)
            }

        test "a mixed node is the weighted sum of the six ops, then normalised" {
            use _ = torch.NewDisposeScope()
            let weights = [ 0.1; 0.2; 0.3; 0.1; 0.2; 0.1 ]
            let combined =
                List.map2 (fun a b -> List.map2 (fun w op -> w * applyOp op a b) weights NodeOp.all |> List.sum) x1v x2v
            let soft = node (List.map log weights) NodeOps.NodeEvaluation.soft
            expectClose 1e-6 soft (Array.ofList (normalisedByHand combined)) "mixture"
        }

        test "a node that normalises each op mixes the six ops at unit norm, by hand" {
            use _ = torch.NewDisposeScope()
            let weights = [ 0.1; 0.2; 0.3; 0.1; 0.2; 0.1 ]
            // Each op normalised per position (channels 2w, 2w + 1), then the weighted sum, then normalised.
            let unitOp op = normalisedByHand (List.map2 (applyOp op) x1v x2v)
            let combined = List.fold2 (fun acc w op -> List.map2 (fun a u -> a + w * u) acc (unitOp op)) (List.replicate 4 0.0) weights NodeOp.all
            let columns = NodeOps.columnsOf NormaliseEachOp (tensorOf [| 1L; 6L |] weights)
            let actual = NodeOps.mixColumns NodeOps.Kernel columns (tensorOf shape x1v) (tensorOf shape x2v)
            expectClose 1e-6 actual (Array.ofList (normalisedByHand combined)) "each op at unit norm"
            let paper = NodeOps.mixColumns NodeOps.Kernel (NodeOps.columnsOf MixThenNormalise (tensorOf [| 1L; 6L |] weights)) (tensorOf shape x1v) (tensorOf shape x2v)
            Expect.isGreaterThan ((actual - paper).abs().max().item<float32>()) 1e-3f "not the paper's mixture"
        }

        test "normalising each op changes nothing for one-hot weights, a broadcast map and a zero map included" {
            use _ = torch.NewDisposeScope()
            torch.random.manual_seed 31L |> ignore
            let image = torch.randn([| 2L; 1L; 3L; 4L; 8L |])
            let map = torch.randn([| 2L; 3L; 3L; 4L; 1L |])
            let zeroMap = torch.zeros([| 2L; 3L; 3L; 4L; 1L |])
            for op in NodeOp.all do
                let weights = torch.tensor(NodeOp.all |> List.map (fun o -> if o = op then 1.0f else 0.0f) |> Array.ofList).reshape(1L, 6L).expand(3L, -1L)
                for name, x2 in [ "map", map; "zero map", zeroMap ] do
                    let each = NodeOps.mixColumns NodeOps.Composed (NodeOps.columnsOf NormaliseEachOp weights) image x2
                    let paper = NodeOps.mixColumns NodeOps.Composed (NodeOps.columnsOf MixThenNormalise weights) image x2
                    expectAllClose 1e-5 each paper $"{NodeOp.name op}, {name}"
        }

        test "the four-coefficient form equals six separate ops on random inputs" {
            use _ = torch.NewDisposeScope()
            torch.random.manual_seed 7L |> ignore
            let alpha = torch.randn([| 3L; 6L |]) * 2.0
            let x1 = torch.randn([| 4L; 1L; 3L; 3L; 5L |])
            let x2 = torch.randn([| 4L; 3L; 3L; 3L; 5L |])
            let weights = NodeOps.opWeights NodeOps.NodeEvaluation.soft alpha
            expectAllClose 1e-5 (NodeOps.mixNode NodeOps.Composed (NodeOps.coefficients weights) x1 x2) (sixOpNode weights x1 x2) "same node"
            let small = torch.randn([| 4L; 1L; 1L; 1L; 5L |]) // the smaller input first, as a text vector is
            expectAllClose 1e-5 (NodeOps.mixNode NodeOps.Composed (NodeOps.coefficients weights) small x2) (sixOpNode weights small x2) "x1 smaller"
        }

        test "hard-max picks the largest α and a disabled op is never picked" {
            use _ = torch.NewDisposeScope()
            let alpha = tensorOf [| 1L; 6L |] [ 0.0; 3.0; 1.0; 2.0; 0.0; 0.0 ]
            expectClose 0.0 (NodeOps.opWeights NodeOps.NodeEvaluation.hardMax alpha) [| 0.; 1.; 0.; 0.; 0.; 0. |] "max"
            let noMax = { NodeOps.NodeEvaluation.hardMax with DisabledOps = [ Max ] }
            expectClose 0.0 (NodeOps.opWeights noMax alpha) [| 0.; 0.; 0.; 1.; 0.; 0. |] "product next"
        }

        test "softmax(α / τ): τ = 0.5 doubles the logits' gaps; small τ tends to hard-max" {
            use _ = torch.NewDisposeScope()
            let alpha = tensorOf [| 1L; 6L |] [ 0.0; log 2.0; 0.0; 0.0; 0.0; 0.0 ]
            // At τ = 1 the weights are 2:1:1:1:1:1 (1/7 each, 2/7); at τ = 0.5, e^(2 log 2) = 4: 4/9 and 1/9.
            expectClose 1e-6 (NodeOps.opWeights NodeOps.NodeEvaluation.soft alpha) [| 1./7.; 2./7.; 1./7.; 1./7.; 1./7.; 1./7. |] "τ = 1"
            expectClose 1e-6 (NodeOps.opWeights (NodeOps.NodeEvaluation.softAt 0.5) alpha) [| 1./9.; 4./9.; 1./9.; 1./9.; 1./9.; 1./9. |] "τ = 0.5"
            expectClose 1e-6 (NodeOps.opWeights (NodeOps.NodeEvaluation.softAt 0.01) alpha) [| 0.; 1.; 0.; 0.; 0.; 0. |] "τ = 0.01: 2^100 to 1"
        }

        test "a disabled op gets weight 0 and the rest are renormalised" {
            use _ = torch.NewDisposeScope()
            let weights = [ 0.1; 0.2; 0.3; 0.1; 0.2; 0.1 ]
            let evaluation = { NodeOps.NodeEvaluation.soft with DisabledOps = [ Sum ] }
            let actual = NodeOps.opWeights evaluation (tensorOf [| 1L; 6L |] (List.map log weights))
            expectClose 1e-6 actual [| 0.1 / 0.7; 0.2 / 0.7; 0.0; 0.1 / 0.7; 0.2 / 0.7; 0.1 / 0.7 |] "renormalised"
            Expect.throws (fun () -> NodeOps.opWeights { evaluation with DisabledOps = NodeOp.all } (torch.zeros(1L, 6L)) |> ignore)
                "all ops disabled"
        }
    ]
