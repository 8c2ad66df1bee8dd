module Lnmn.Tests.AnalysisTests

open Expecto
open TorchSharp
open Lnmn.Core.Specs
open Lnmn.Core.Network
open Lnmn.Analysis
open Lnmn.Tests.TestUtil

[<Tests>]
let tests =
    testList "analysis" [
        test "a node's output share by hand: six weights, x1 = (3, 4), x2 = (0, 1)" {
            use _ = torch.NewDisposeScope()
            // ‖op‖: min (0, 1) 1, max (3, 4) 5, sum (3, 5) √34, product (0, 4) 4, choose_1 5, choose_2 1.
            let p = torch.tensor([| 0.1f; 0.05f; 0.05f; 0.1f; 0.1f; 0.6f |]).reshape(1L, 6L)
            let x1 = torch.tensor([| 3.0f; 4.0f |]).reshape(1L, 1L, 1L, 1L, 2L)
            let x2 = torch.tensor([| 0.0f; 1.0f |]).reshape(1L, 1L, 1L, 1L, 2L)
            let total = 0.1 * 1.0 + 0.05 * 5.0 + 0.05 * sqrt 34.0 + 0.1 * 4.0 + 0.1 * 5.0 + 0.6 * 1.0
            expectClose 1e-6 (OutputShare.nodeShares MixThenNormalise p x1 x2) [| 0.6 / total |] "choose_2's share: 0.6 of α, 28% of the output"
            // Each op at norm 1: the share is α's. With x2 = 0, min (0, 0) and product are zero and drop out.
            expectClose 1e-6 (OutputShare.nodeShares NormaliseEachOp p x1 x2) [| 0.6 |] "each op normalised: 0.6"
            let zero = torch.zeros([| 1L; 1L; 1L; 1L; 2L |])
            expectClose 1e-6 (OutputShare.nodeShares NormaliseEachOp p (x1.abs()) zero) [| 0.0 / (0.05 + 0.05 + 0.1) |] "choose_2 of a zero map: none of the output"
        }
        test "a network whose α is one-hot has every winner at 100% of its node's output" {
            use _ = torch.NewDisposeScope()
            let net = LnmnNetwork.compile (NetworkTests.tinySpec Ablation9 Reference)
            use _ = torch.no_grad ()
            // exp(−200) is 0 in float32: softmax(α) is exactly one-hot.
            for g in net.CellGroups do g.Alpha.zero_().select(-1L, 3L).fill_(200.0) |> ignore
            let shares = OutputShare.measure net (NetworkTests.randomBatch 3L 4 6 net.Spec.Dims)
            Expect.equal shares.Length 19 "LNMN-9's 19 nodes"
            for s in shares do
                Expect.equal s.Winner Product "the product op"
                Expect.floatClose Accuracy.medium s.OutputShare 1.0 $"module {s.Module} node {s.Node}"
        }
        test "the α readout maps each cell back to its spec module, with softmax weights and the winning op" {
            use _ = torch.NewDisposeScope()
            // Spec order interleaves kinds, so the readout must undo the grouping by kind.
            let answer3 = Generic { Role = Answer; Arity = ThreeInput }
            let attention4 = Generic { Role = Attention; Arity = FourInput }
            let spec = { NetworkTests.tinySpec Ablation9 Reference with Modules = [ answer3; attention4; NoOp; answer3 ] }
            let net = LnmnNetwork.compile spec
            // Node weights: cell c, node n puts log 0.5 on op (c + n) mod 6 and log 0.1 on the rest.
            for g in net.CellGroups do
                let k, nodes = g.Count, CellKind.nodeCount g.Kind
                let alpha = Array.init (k * nodes * 6) (fun i -> let c, n, op = i / (nodes * 6), (i / 6) % nodes, i % 6 in if op = (c + n) % 6 then log 0.5 else log 0.1)
                use _ = torch.no_grad ()
                g.Alpha.copy_(torch.tensor(Array.map float32 alpha).reshape(int64 k, int64 nodes, 6L)) |> ignore
            let readout = AlphaReadout.read net
            Expect.equal (readout |> List.map (fun r -> r.Module, r.Node)) [ 0, 0; 0, 1; 1, 0; 1, 1; 1, 2; 3, 0; 3, 1 ] "modules 0, 1, 3 in spec order"
            let at m n = readout |> List.find (fun r -> r.Module = m && r.Node = n)
            // Module 3 is the second answer-3in cell (c = 1): node 1 wins op (1 + 1) = Sum.
            Expect.equal (at 3 1).Winner Sum "second answer cell, node 1"
            Expect.equal (at 0 0).Winner Min "first answer cell, node 0"
            Expect.equal (at 1 2).Winner Sum "attention cell (c = 0), node 2"
            for r in readout do
                Expect.floatClose Accuracy.medium (List.max r.Weights) 0.5 "winning weight 0.5"
                Expect.floatClose Accuracy.medium (List.sum r.Weights) 1.0 "weights sum to one"
        }
        test "plots are self-contained HTML: plotly.js inline, no script fetched from a CDN" {
            use _ = torch.NewDisposeScope()
            let net = LnmnNetwork.compile (NetworkTests.tinySpec Ablation9 Reference)
            let page = Plots.alphaHeatmap (AlphaReadout.read net)
            Expect.isFalse (page.Contains "<script src=\"http") "no remote script"
            Expect.isGreaterThan page.Length 1_000_000 "the plotly.js bundle is inline (several MB)"
            Expect.stringContains page "m7 answer-4in n2" "the last node's row label (module 7 of ablation 9; 8 is NoOp)"
            let curves = Plots.trainingCurves [ 0, 40.0, 41.0; 1, 60.0, 58.5 ]
            Expect.stringContains curves "58.5" "the data points are in the page"
        }
        test "integrated-gradient attributions sum to F(α) − F(0), more closely as steps grow (completeness)" {
            use _ = torch.NewDisposeScope()
            torch.random.manual_seed 31L |> ignore
            // The 5% bound was measured on this tiny network with PyTorch's initialisation.
            let net = LnmnNetwork.compile { NetworkTests.tinySpec Ablation9 Reference with Initialisation = Some TorchDefaults }
            let setAlphas (values: torch.Tensor list) =
                use _ = torch.no_grad ()
                List.iter2 (fun (a: Modules.Parameter) (v: torch.Tensor) -> a.copy_(v) |> ignore) (net.AlphaParameters()) values
            let saved = net.AlphaParameters() |> List.map (fun a -> a.detach() * 3.0) // far from the baseline
            setAlphas saved
            let batch: Lnmn.Core.Training.Steps.LabelledBatch =
                { Input = NetworkTests.randomBatch 31L 16 6 NetworkTests.tinyDims
                  Answers = torch.randint(0L, 5L, [| 16L |], generator = new torch.Generator(32UL))
                  SoftTargets = None }
            let f () =
                use _ = torch.no_grad ()
                (IntegratedGradients.correctProbability net [ batch ]).item<float32>() |> float
            let atAlpha = f ()
            setAlphas (saved |> List.map torch.zeros_like)
            let atZero = f ()
            setAlphas saved
            let gap steps =
                let total = IntegratedGradients.attributions net [ batch ] steps |> List.sumBy (fun t -> t.sum().item<float32>() |> float)
                abs (total - (atAlpha - atZero))
            let coarse, fine = gap 2, gap 32
            Expect.isLessThan fine coarse $"32 steps ({fine}) closer than 2 ({coarse})"
            Expect.isLessThan fine (0.05 * abs (atAlpha - atZero) + 1e-4) "within 5% at 32 steps"
            expectAllClose 0.0 (torch.cat(net.AlphaParameters() |> List.map (fun a -> (a :> torch.Tensor).flatten()) |> Array.ofList))
                (torch.cat(saved |> List.map (fun s -> s.flatten()) |> Array.ofList)) "α restored"
        }
    ]

