/// The oracle-map instrument (issue 25): the compared objects and their cells on a hand-built scene,
/// and that an oracle changes only what the answer cells read.
module Lnmn.Tests.OracleTests

open Expecto
open TorchSharp
open Lnmn.Core.Specs
open Lnmn.Core.Data.Clevr
open Lnmn.Core.Data.Scenes
open Lnmn.Core.Network
open Lnmn.Analysis
open Lnmn.Tests.TestUtil

let private objectAt shape color size x y =
    { Shape = shape; Color = color; Size = size; Material = "rubber"; Coords = [| x; y; 0.5 |]; PixelCoords = [||]; Rotation = 0.0 }

// On a 4×4 grid over [-3, 3]², cell centres are at −2.25, −0.75, 0.75, 2.25; cells row-major.
// A small disc (radius 0.45) covers its own cell only (0.95 − d); a large one (0.9) its own cell and
// the four next to it (1.4 − 1 = 0.4), not the diagonal ones (1.4 − √2 < 0).
let private scene =
    let objects =
        [| objectAt "cube" "red" "small" -2.25 -2.25       // row 0, column 0: cell 0
           objectAt "sphere" "blue" "large" 0.75 0.75      // row 2, column 2: cell 10, and 6, 9, 11, 14
           objectAt "cylinder" "red" "small" 2.25 -2.25 |] // row 0, column 3: cell 3
    { ImageIndex = 0; ImageFilename = "x.png"; Split = "val"; Objects = objects; Relationships = relationships 0.2 objects }

let private step f inputs = { Function = f; Inputs = inputs }

/// "Is the red cube the same color as the blue sphere?"
let private sameColour =
    [ step Scene []; step (Filter(Color, "red")) [ 0 ]; step (Filter(Shape, "cube")) [ 1 ]; step Unique [ 2 ]; step (Query Color) [ 3 ]
      step Scene []; step (Filter(Color, "blue")) [ 5 ]; step Unique [ 6 ]; step (Query Color) [ 7 ]
      step (EqualAttribute Color) [ 4; 8 ] ]

/// "Are there fewer red things than spheres?"
let private fewer =
    [ step Scene []; step (Filter(Color, "red")) [ 0 ]; step Function.Count [ 1 ]
      step Scene []; step (Filter(Shape, "sphere")) [ 3 ]; step Function.Count [ 4 ]
      step LessThan [ 2; 5 ] ]

let private onCells (cells: int list) = Array.init 16 (fun i -> if List.contains i cells then 10.0f else 0.0f)

let private dims =
    { Steps = 3; StackLength = 4; MapDim = 12; EmbedDim = 8; LstmHidden = 8; KbDim = 16; MemDim = 12
      Answers = 5; Vocabulary = 20; InputChannels = 6; GridHeight = 3; GridWidth = 4 }

let private network pooling =
    torch.random.manual_seed 3L |> ignore
    LnmnNetwork.compile { ModelSpec.lnmn Ablation11 dims with AnswerPooling = Some pooling }

let private maps (first: torch.Tensor) (second: torch.Tensor) : ReferenceStep.AnswerMaps = { First = first; Second = second }

[<Tests>]
let tests =
    testList "oracle maps" [
        test "the compared objects: the two queried objects, the two counted sets" {
            Expect.equal (OracleMaps.comparedObjects scene sameColour) (Some(set [ 0 ], set [ 1 ])) "red cube, blue sphere"
            Expect.equal (OracleMaps.comparedObjects scene fewer) (Some(set [ 0; 2 ], set [ 1 ])) "red things, spheres"
            Expect.isNone (OracleMaps.comparedObjects scene (List.take 5 sameColour)) "a query is no comparison"
        }
        test "cells: a small object its own cell, a large one its cell and the four beside it" {
            Expect.equal (OracleMaps.cells OracleMaps.Shown 4 scene (set [ 0 ])) (set [ 0 ]) "small cube"
            Expect.equal (OracleMaps.cells OracleMaps.Shown 4 scene (set [ 1 ])) (set [ 6; 9; 10; 11; 14 ]) "large sphere"
            Expect.equal (OracleMaps.cells OracleMaps.Shown 4 scene (set [ 0; 2 ])) (set [ 0; 3 ]) "both small red things"
        }
        test "centre cells: one per object, whatever its size" {
            Expect.equal (OracleMaps.cells OracleMaps.Centre 4 scene (set [ 0; 1; 2 ])) (set [ 0; 10; 3 ]) "centres"
            let first, second = OracleMaps.questionMaps OracleMaps.PerObject OracleMaps.Centre 4 scene sameColour
            Expect.equal (first, second) (onCells [ 0 ], onCells [ 10 ]) "red cube, blue sphere"
        }
        test "a hidden object keeps its centre cell" {
            // a large cube on the small one's cell covers it fully (1.0 against 0.95) and takes it
            let hidden = { scene with Objects = Array.append scene.Objects [| objectAt "cube" "gray" "large" -2.25 -2.25 |] }
            Expect.equal (OracleMaps.cells OracleMaps.Shown 4 hidden (set [ 0 ])) (set [ 0 ]) "the small cube under a large one"
            Expect.equal (OracleMaps.cells OracleMaps.Shown 4 hidden (set [ 3 ])) (set [ 0; 1; 4 ]) "the large one owns its cell and two beside it"
        }
        test "maps: the union, or one per object, 10 on the cells and 0 elsewhere" {
            let union1, union2 = OracleMaps.questionMaps OracleMaps.Union OracleMaps.Shown 4 scene sameColour
            Expect.equal union1 (onCells [ 0; 6; 9; 10; 11; 14 ]) "union"
            Expect.equal union2 union1 "4-input cells read the union twice"
            let first, second = OracleMaps.questionMaps OracleMaps.PerObject OracleMaps.Shown 4 scene fewer
            Expect.equal first (onCells [ 0; 3 ]) "the red things"
            Expect.equal second (onCells [ 6; 9; 10; 11; 14 ]) "the sphere"
            let none1, none2 = OracleMaps.questionMaps OracleMaps.Union OracleMaps.Centre 4 scene (List.take 5 sameColour)
            Expect.equal (none1, none2) (Array.zeroCreate 16, Array.zeroCreate 16) "no comparison: zero maps"
            let batch = OracleMaps.answerMaps torch.CPU 4 [| union1, union2; first, second |]
            Expect.equal batch.First.shape [| 2L; 4L; 4L |] "(B, H, W)"
            Expect.equal (values (batch.Second.[1L].flatten())) (Array.map float second) "row 1's second map"
        }
        test "an oracle equal to the stack's own reads changes nothing (one step: the stack is zero)" {
            for pooling in [ SpatialSum; AttentionWeighted ] do
                use _ = torch.NewDisposeScope()
                let oneStep = { dims with Steps = 1 }
                torch.random.manual_seed 3L |> ignore
                let net = LnmnNetwork.compile { ModelSpec.lnmn Ablation11 oneStep with AnswerPooling = Some pooling }
                let batch = NetworkTests.randomBatch 5L 4 6 oneStep
                let zero = torch.zeros([| 4L; 3L; 4L |])
                let plain = net.ReferenceForward(batch, NodeOps.NodeEvaluation.soft)
                let oracle = net.ReferenceForward(batch, NodeOps.NodeEvaluation.soft, maps zero zero)
                expectAllClose 1e-6 oracle.Logits plain.Logits $"{pooling}: logits"
        }
        test "an oracle changes the logits, not the attention path (weights, pointers, maps)" {
            for pooling in [ SpatialSum; AttentionWeighted ] do
                use _ = torch.NewDisposeScope()
                let net = network pooling
                let batch = NetworkTests.randomBatch 6L 4 6 dims
                let g = new torch.Generator(7UL)
                let a1, a2 = torch.randn([| 4L; 3L; 4L |], generator = g) * 5.0f, torch.randn([| 4L; 3L; 4L |], generator = g) * 5.0f
                let plain = net.ReferenceForward(batch, NodeOps.NodeEvaluation.soft)
                let oracle = net.ReferenceForward(batch, NodeOps.NodeEvaluation.soft, maps a1 a2)
                expectAllClose 1e-6 oracle.ModuleWeights plain.ModuleWeights $"{pooling}: w(t)"
                expectAllClose 1e-6 oracle.Pointers plain.Pointers $"{pooling}: pointers"
                expectAllClose 1e-6 oracle.AttentionMaps plain.AttentionMaps $"{pooling}: the maps attention cells write"
                Expect.isGreaterThan ((oracle.Logits - plain.Logits).abs().max().item<float32>()) 1e-4f $"{pooling}: the logits move"
                // a1 and a2 reach the answer cells: swapping them changes the 4-input cells' reads
                let swapped = net.ReferenceForward(batch, NodeOps.NodeEvaluation.soft, maps a2 a1)
                Expect.isGreaterThan ((swapped.Logits - oracle.Logits).abs().max().item<float32>()) 1e-6f $"{pooling}: first and second are read"
        }
        test "answer cells reading detached img and txt maps: the same logits and answer-cell gradients, none into the projections from them" {
            use _ = torch.NewDisposeScope()
            let net = network AttentionWeighted
            let batch = NetworkTests.randomBatch 6L 4 6 dims
            let gradientsOf (reads: ReferenceStep.AnswerReads) =
                net.zero_grad ()
                let logits = net.ReferenceForward(batch, NodeOps.NodeEvaluation.soft, reads).Logits
                (logits * logits).sum().backward ()
                let grads = net.named_parameters() |> Seq.map (fun struct (n, p) -> n, p.grad.clone()) |> Map.ofSeq
                logits.detach(), grads
            let plainLogits, plain = gradientsOf ReferenceStep.AnswerReads.plain
            let detachedLogits, detached = gradientsOf { ReferenceStep.AnswerReads.plain with Inputs = ReferenceStep.Detached }
            expectAllClose 1e-6 detachedLogits plainLogits "logits"
            // cell_groups.2 and .3 are LNMN-11's answer cells: their own parameters see the same gradient
            for name in [ "cell_groups.2.out_weight"; "cell_groups.3.out_weight"; "classifier.hidden.weight" ] do
                expectAllClose 1e-6 detached.[name] plain.[name] name
            for name in [ "image_projection.weight"; "text_projection.weight" ] do
                Expect.isGreaterThan ((detached.[name] - plain.[name]).abs().max().item<float32>()) 1e-6f $"{name}: the answer cells' share is gone"
        }
        test "answer cells reading projections of their own: the shared ones, given as their own, change nothing; other ones change only the logits" {
            use _ = torch.NewDisposeScope()
            let net = network AttentionWeighted
            let batch = NetworkTests.randomBatch 6L 4 6 dims
            let parameter name = net.named_parameters() |> Seq.pick (fun struct (n, p) -> if n = name then Some p else None)
            // the network's own img (a 1×1 conv of kb, here on kb's channels-last layout) and txt projections
            let sharedImage (kb: torch.Tensor) = torch.nn.functional.linear(kb, (parameter "image_projection.weight").flatten(1L), parameter "image_projection.bias")
            let sharedText (c: torch.Tensor) = torch.nn.functional.linear(c, parameter "text_projection.weight", parameter "text_projection.bias")
            let plain = net.ReferenceForward(batch, NodeOps.NodeEvaluation.soft)
            let same = net.ReferenceForward(batch, NodeOps.NodeEvaluation.soft, { ReferenceStep.AnswerReads.plain with Inputs = ReferenceStep.Own(sharedImage, sharedText) })
            expectAllClose 1e-5 same.Logits plain.Logits "the shared projections as their own: same logits"
            let halved = net.ReferenceForward(batch, NodeOps.NodeEvaluation.soft, { ReferenceStep.AnswerReads.plain with Inputs = ReferenceStep.Own((fun kb -> 0.5f * sharedImage kb), sharedText) })
            expectAllClose 1e-6 halved.AttentionMaps plain.AttentionMaps "attention cells read the shared maps"
            Expect.isGreaterThan ((halved.Logits - plain.Logits).abs().max().item<float32>()) 1e-5f "answer cells read their own"
        }
        test "Stack-NMN's Describe reads the oracle; its attention path and stack are untouched" {
            use _ = torch.NewDisposeScope()
            torch.random.manual_seed 3L |> ignore
            let net = LnmnNetwork.compile (ModelSpec.stackNmn dims)
            let batch = NetworkTests.randomBatch 6L 4 6 dims
            let g = new torch.Generator(8UL)
            let a1, a2 = torch.randn([| 4L; 3L; 4L |], generator = g) * 5.0f, torch.randn([| 4L; 3L; 4L |], generator = g) * 5.0f
            let plain = net.ReferenceForward(batch, NodeOps.NodeEvaluation.soft)
            let oracle = net.ReferenceForward(batch, NodeOps.NodeEvaluation.soft, maps a1 a2)
            expectAllClose 1e-6 oracle.Pointers plain.Pointers "pointers"
            expectAllClose 1e-6 oracle.AttentionMaps plain.AttentionMaps "the maps on the stack"
            Expect.isGreaterThan ((oracle.Logits - plain.Logits).abs().max().item<float32>()) 1e-4f "the logits move"
        }
    ]
