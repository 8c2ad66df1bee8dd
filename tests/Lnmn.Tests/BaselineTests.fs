/// Stack-NMN's hand-designed modules, the concatenation cells and pointer sharpening, against
/// values worked out by hand on a 1×2 grid.
module Lnmn.Tests.BaselineTests

open Expecto
open TorchSharp
open Lnmn.Core
open Lnmn.Core.Specs
open Lnmn.Core.Network
open Lnmn.Core.Network.HandModules
open Lnmn.Tests.TestUtil

/// q = 2 (LSTM hidden 1), kb_dim 2, mem_dim 1, L = 4, a 1×2 grid.
let private dims =
    { NetworkTests.tinyDims with LstmHidden = 1; KbDim = 2; MemDim = 1; MapDim = 2; StackLength = 4; GridHeight = 1; GridWidth = 2 }

let private setParameters (m: torch.nn.Module) (values: (string * float list) list) =
    use _ = torch.no_grad ()
    let named = m.named_parameters() |> Seq.map (fun struct (n, p) -> n, p) |> Map.ofSeq
    Expect.equal (named |> Map.keys |> Set.ofSeq) (values |> List.map fst |> Set.ofList) "every parameter set"
    for name, xs in values do
        let p: Modules.Parameter = named.[name]
        p.copy_(tensorOf p.shape xs) |> ignore

/// W c = [1, 1] whatever c is; conv = x·[1, 2] + 0.5.
let private attentionWeights = [ "text.weight", [ 0.; 0.; 0.; 0. ]; "text.bias", [ 1.; 1. ]; "conv.weight", [ 1.; 2. ]; "conv.bias", [ 0.5 ] ]

let private layerWith readout kind weights =
    let l = HandModules.create dims readout kind
    setParameters l weights
    l

let private layer kind weights = layerWith Normalised kind weights

/// kb at the two positions: [3, 4] and [0, 2]. Under the map [0, ln 3] softmax pooling gives
/// 0.25·[3, 4] + 0.75·[0, 2] = [0.75, 2.5].
let private inputs (slots: float list list) (top: int) =
    { Stack = tensorOf [| 1L; 4L; 1L; 2L |] (List.concat slots)
      Pointer = torch.nn.functional.one_hot(torch.tensor([| int64 top |]), 4L).to_type(torch.float32)
      Knowledge = tensorOf [| 1L; 1L; 2L; 2L |] [ 3.; 4.; 0.; 2. ]
      Text = tensorOf [| 1L; 2L |] [ 0.5; 9. ]
      Memory = tensorOf [| 1L; 1L |] [ 0.25 ] }

let private oneHot slot = List.init 4 (fun l -> if l = slot then 1.0 else 0.0)
let private ln3 = log 3.0

/// The features a Describe layer feeds its memory Linear, read channel by channel through a Linear
/// that passes channel i alone (its inputs are [c ; mem ; features], 2 + 1 + 2 wide).
let private describeFeatures readout kind textWeights (start: HandInputs) =
    torch.cat(
        [| for channel in 0 .. 1 ->
               let read = [ for i in 0 .. 4 -> if i = 3 + channel then 1. else 0. ]
               let l = layerWith readout kind (textWeights @ [ "memory.weight", read; "memory.bias", [ 0. ] ])
               (l.Apply start).Memory.Value.reshape(1L) |],
        0L)

let private expectStack (o: HandOutputs) (slots: float list list) pointer message =
    expectClose 1e-5 o.Stack (List.concat slots |> Array.ofList) $"{message}: stack"
    expectClose 1e-6 o.Pointer (oneHot pointer |> Array.ofList) $"{message}: pointer"

[<Tests>]
let tests =
    testList "baselines" [
        test "Find pushes conv1x1(l2norm(kb ⊙ W c))" {
            use _ = torch.NewDisposeScope()
            // l2norm(kb) = [0.6, 0.8], [0, 1]; conv: 0.6 + 1.6 + 0.5 = 2.7, 0 + 2 + 0.5 = 2.5.
            let o = (layer Find attentionWeights).Apply(inputs [ [ 1.; 2. ]; [ 3.; 4. ]; [ 5.; 6. ]; [ 7.; 8. ] ] 1)
            expectStack o [ [ 1.; 2. ]; [ 3.; 4. ]; [ 2.7; 2.5 ]; [ 7.; 8. ] ] 2 "pushed on slot 2"
            Expect.isNone o.Memory "no memory"
        }
        test "And is the min and Or the max of the two top maps, popped to one" {
            use _ = torch.NewDisposeScope()
            let start = inputs [ [ 9.; 9. ]; [ 1.; 4. ]; [ 3.; 2. ]; [ 0.; 0. ] ] 2
            expectStack ((layer And []).Apply start) [ [ 9.; 9. ]; [ 1.; 2. ]; [ 3.; 2. ]; [ 0.; 0. ] ] 1 "And"
            expectStack ((layer Or []).Apply start) [ [ 9.; 9. ]; [ 3.; 4. ]; [ 3.; 2. ]; [ 0.; 0. ] ] 1 "Or"
        }
        test "Filter is Find then And: the top map intersected with what Find finds" {
            use _ = torch.NewDisposeScope()
            let o = (layer Filter attentionWeights).Apply(inputs [ [ 9.; 9. ]; [ 2.6; 3. ]; [ 0.; 0. ]; [ 0.; 0. ] ] 1)
            // min([2.6, 3], [2.7, 2.5]) on slot 1; Find's push left its map on slot 2.
            expectStack o [ [ 9.; 9. ]; [ 2.6; 2.5 ]; [ 2.7; 2.5 ]; [ 0.; 0. ] ] 1 "filtered"
        }
        test "Transform rewrites the top map from kb pooled under it" {
            use _ = torch.NewDisposeScope()
            // kb ⊙ [0.75, 2.5] = [2.25, 10] → /10.25, and [0, 5] → [0, 1]; conv: 2.25/10.25 + 20/10.25 + 0.5, 2.5.
            let o = (layer Transform attentionWeights).Apply(inputs [ [ 9.; 9. ]; [ 0.; ln3 ]; [ 0.; 0. ]; [ 0.; 0. ] ] 1)
            expectStack o [ [ 9.; 9. ]; [ 22.25 / 10.25 + 0.5; 2.5 ]; [ 0.; 0. ]; [ 0.; 0. ] ] 1 "same slot"
        }
        test "Scene pushes its learned constant" {
            use _ = torch.NewDisposeScope()
            let o = (layer Scene [ "value", [ 0.7 ] ]).Apply(inputs [ [ 9.; 9. ]; [ 1.; 2. ]; [ 0.; 0. ]; [ 0.; 0. ] ] 1)
            expectStack o [ [ 9.; 9. ]; [ 1.; 2. ]; [ 0.7; 0.7 ]; [ 0.; 0. ] ] 2 "pushed"
        }
        test "DescribeOne pops the top map and writes Linear([c ; mem ; l2norm(W c ⊙ pooled kb)])" {
            use _ = torch.NewDisposeScope()
            let slots = [ [ 9.; 9. ]; [ 0.; 0. ]; [ 0.; ln3 ]; [ 0.; 0. ] ]
            let weights = [ "text.weight", [ 0.; 0.; 0.; 0. ]; "text.bias", [ 2.; 1. ]; "memory.weight", [ 1.; 0.; 2.; 1.; 1. ]; "memory.bias", [ 0. ] ]
            let o = (layer DescribeOne weights).Apply(inputs slots 2)
            expectStack o slots 1 "popped, maps kept"
            // [2, 1] ⊙ [0.75, 2.5] = [1.5, 2.5], normalised by √8.5; 1·0.5 + 2·0.25 + (1.5 + 2.5)/√8.5.
            expectClose 1e-5 o.Memory.Value [| 1.0 + 4.0 / sqrt 8.5 |] "memory"
            let unnormalised = (layerWith Unnormalised DescribeOne weights).Apply(inputs slots 2)
            expectStack unnormalised slots 1 "unnormalised: popped, maps kept"
            expectClose 1e-5 unnormalised.Memory.Value [| 1.0 + 4.0 |] "unnormalised: memory"
        }
        test "DescribeTwo pops both maps and pools kb under each" {
            use _ = torch.NewDisposeScope()
            let slots = [ [ 9.; 9. ]; [ 0.; 0. ]; [ 0.; ln3 ]; [ 0.; 0. ] ]
            let weights = [ "text.weight", [ 0.; 0.; 0.; 0. ]; "text.bias", [ 1.; 1. ]; "memory.weight", [ 0.; 0.; 0.; 1.; 1. ]; "memory.bias", [ 0. ] ]
            let o = (layer DescribeTwo weights).Apply(inputs slots 2)
            expectStack o slots 0 "two pops"
            // Pooled under [0, 0]: [1.5, 3]; under [0, ln 3]: [0.75, 2.5]; product [1.125, 7.5].
            expectClose 1e-5 o.Memory.Value [| (1.125 + 7.5) / sqrt (1.125 * 1.125 + 7.5 * 7.5) |] "memory"
            let unnormalised = (layerWith Unnormalised DescribeTwo weights).Apply(inputs slots 2)
            expectStack unnormalised slots 0 "unnormalised: two pops"
            expectClose 1e-5 unnormalised.Memory.Value [| 1.125 + 7.5 |] "unnormalised: memory"
        }
        test "Describe's read-out: W c ⊙ p (⊙ p2) with Unnormalised, that L2-normalised with Normalised (Stack-NMN's)" {
            use _ = torch.NewDisposeScope()
            let start = inputs [ [ 9.; 9. ]; [ 0.; 0. ]; [ 0.; ln3 ]; [ 0.; 0. ] ] 2
            // c = [0.5, 9]: W c = [1·0.5 + 1.5, 0 + 1] = [2, 1].
            let text = [ "text.weight", [ 1.; 0.; 0.; 0. ]; "text.bias", [ 1.5; 1. ] ]
            // DescribeOne: [2, 1] ⊙ [0.75, 2.5]. DescribeTwo: [2, 1] ⊙ [1.5, 3] ⊙ [0.75, 2.5].
            for kind, gated in [ DescribeOne, [| 1.5; 2.5 |]; DescribeTwo, [| 2.25; 7.5 |] ] do
                let norm = sqrt (Array.sumBy (fun x -> x * x) gated)
                let name = HandModule.name kind
                expectClose 1e-5 (describeFeatures Unnormalised kind text start) gated $"{name}, unnormalised"
                expectClose 1e-6 (describeFeatures Normalised kind text start) (gated |> Array.map (fun x -> x / norm)) $"{name}, normalised"
        }
        test "in the network: the spec's DescribeReadout reaches the Describe layers, None as Normalised" {
            use _ = torch.NewDisposeScope()
            torch.random.manual_seed 12L |> ignore
            let spec = ModelSpec.stackNmn NetworkTests.tinyDims
            let batch = NetworkTests.randomBatch 12L 2 5 NetworkTests.tinyDims
            let logits readout =
                torch.random.manual_seed 13L |> ignore
                (LnmnNetwork.compile { spec with DescribeReadout = readout }).Forward(batch, NodeOps.NodeEvaluation.soft).Logits
            let none, normalised, unnormalised = logits None, logits (Some Normalised), logits (Some Unnormalised)
            expectAllClose 0.0 none normalised "None is Normalised"
            Expect.isTrue ((unnormalised - normalised).abs().max().item<float32>() > 1e-4f) "Unnormalised changes the answer"
        }
        test "hard sharpening: the pointer after Find, Scene, Find, And, Or, DescribeOne, each weighted 0.7 against NoOp" {
            use _ = torch.NewDisposeScope()
            torch.random.manual_seed 5L |> ignore
            let start = inputs [ [ 0.; 0. ]; [ 0.; 0. ]; [ 0.; 0. ]; [ 0.; 0. ] ] 0
            let sequence = [ Find; Scene; Find; And; Or; DescribeOne ] |> List.map (HandModules.create dims Normalised)
            let pointers =
                sequence
                |> List.scan (fun (i: HandInputs) m ->
                    let o = m.Apply i
                    { i with Stack = o.Stack; Pointer = Stack.sharpen Hard (0.7 * o.Pointer + 0.3 * i.Pointer) }) start
                |> List.tail
                |> List.map (fun i -> i.Pointer)
            expectClose 0.0 (torch.stack(Array.ofList pointers)) ([ 1; 2; 3; 2; 1; 0 ] |> List.collect oneHot |> Array.ofList) "slots 1 2 3 2 1 0"
            // Soft: softmax([0.3, 0.7, 0, 0] / 0.2) after the first Find.
            let soft = Stack.sharpen PointerSharpening.lnmn (0.7 * (sequence.Head.Apply start).Pointer + 0.3 * start.Pointer)
            let e = [ exp 1.5; exp 3.5; 1.0; 1.0 ]
            expectClose 1e-5 soft (e |> List.map (fun x -> x / List.sum e) |> Array.ofList) "soft sharpening"
        }
        test "in the network: a lone Find pushes every step (capped at the top); a lone NoOp keeps stack and pointer" {
            use _ = torch.NewDisposeScope()
            torch.random.manual_seed 6L |> ignore
            let tiny = { NetworkTests.tinyDims with Steps = 5; StackLength = 4 }
            let batch = NetworkTests.randomBatch 6L 2 5 tiny
            let run modules stack = (LnmnNetwork.compile { ModelSpec.stackNmn tiny with Modules = modules; Stack = stack }).Forward(batch, NodeOps.NodeEvaluation.soft)
            let find = run [ Hand Find ] Reference
            let expected = [ 1; 2; 3; 3; 3 ] |> List.collect oneHot
            expectClose 0.0 find.Pointers (expected @ expected |> Array.ofList) "slots 1 2 3 3 3"
            let noOp = run [ NoOp ] Push
            expectClose 0.0 noOp.Pointers (List.replicate 10 (oneHot 0) |> List.concat |> Array.ofList) "pointer stays at the bottom"
            expectAllClose 0.0 noOp.AttentionMaps (torch.ones(2L, 5L, 3L, 4L)) "the uniform start map, untouched"
        }
        // Soft sharpening: with hard sharpening and near-uniform module weights the pointer stays at
        // the bottom (2 of the 9 modules push), so what Find and Scene push is not read at first.
        test "Stack-NMN: 9 modules, hard sharpening by default, no α, every weight gets a gradient (soft sharpening)" {
            use _ = torch.NewDisposeScope()
            torch.random.manual_seed 7L |> ignore
            let spec = ModelSpec.stackNmn NetworkTests.tinyDims
            Expect.equal spec.Modules.Length 9 "8 hand modules and NoOp"
            Expect.equal (ModelSpec.pointer spec) Hard "hard by default"
            let net = LnmnNetwork.compile { spec with Pointer = Some PointerSharpening.lnmn }
            Expect.isEmpty (net.AlphaParameters()) "no α"
            let r = net.Forward(NetworkTests.randomBatch 7L 6 5 NetworkTests.tinyDims, NodeOps.NodeEvaluation.soft)
            Expect.equal r.ModuleWeights.shape [| 6L; 3L; 9L |] "w(t) over 9 modules"
            r.Logits.square().sum().backward()
            for name, p in net.named_parameters() do
                Expect.isTrue (not (isNull p.grad) && p.grad.abs().sum().item<float32>() > 0.0f) $"{name} has a gradient"
        }
        test "a concatenation cell is [img ; a ; txt] through one 1×1 conv, normalised, then the cell's output layer" {
            use _ = torch.NewDisposeScope()
            let kind = { Role = Attention; Arity = ThreeInput }
            let group = new ConcatCells.ConcatGroup(kind, 1, dims)
            let conv = [ 1.; 0.; 0.; 0.; 0.; 0.; 0.; 1.; 0.; 0. ]
            setParameters group [ "conv_weight", conv; "conv_bias", [ 0.; 0. ]; "out_weight", [ 1.; 1. ]; "out_bias", [ 0. ] ]
            let cellInputs: CellGroup.CellInputs =
                { Image = tensorOf [| 1L; 1L; 1L; 2L |] [ 1.; 2. ]; TextMap = tensorOf [| 1L; 2L |] [ 4.; 5. ]
                  Memory = torch.zeros(1L, 1L); Attention1 = tensorOf [| 1L; 1L; 1L |] [ 3. ]; Attention2 = None; Question = torch.zeros(1L, 1L) }
            // [1, 2, 3, 4, 5] → [1, 3] → /√10 → sum.
            expectClose 1e-5 (group.Forward cellInputs) [| 4.0 / sqrt 10.0 |] "logit"
        }
        test "concatenation cells depend on exactly the inputs generic cells of the same kind depend on" {
            use _ = torch.NewDisposeScope()
            torch.random.manual_seed 8L |> ignore
            let d = NetworkTests.tinyDims
            let map () = torch.randn(2L, int64 d.GridHeight, int64 d.GridWidth)
            let reference: CellGroup.CellInputs =
                { Image = torch.randn(2L, int64 d.GridHeight, int64 d.GridWidth, int64 d.MapDim); TextMap = torch.randn(2L, int64 d.MapDim)
                  Memory = torch.randn(2L, int64 d.MemDim); Attention1 = map (); Attention2 = Some(map ())
                  Question = torch.randn(2L, int64 (ModelDims.questionDim d)) }
            let changed (i: CellGroup.CellInputs) =
                [ "img", { i with Image = torch.randn_like i.Image }; "txt", { i with TextMap = torch.randn_like i.TextMap }
                  "mem", { i with Memory = torch.randn_like i.Memory }; "a1", { i with Attention1 = -i.Attention1 }
                  "a2", { i with Attention2 = Some(-i.Attention2.Value) } ]
            let dependsOn (forward: CellGroup.CellInputs -> torch.Tensor) =
                let y = forward reference
                changed reference |> List.filter (fun (_, i) -> (forward i - y).abs().max().item<float32>() > 1e-4f) |> List.map fst
            for kind in CellKind.all do
                let generic = new CellGroup.CellGroup(kind, 2, d)
                let concat = new ConcatCells.ConcatGroup(kind, 2, d)
                let expected =
                    [ "img"; "txt" ] @ (if kind.Role = Answer then [ "mem" ] else []) @ [ "a1" ] @ (if kind.Arity = FourInput then [ "a2" ] else [])
                let name = CellKind.name kind
                Expect.equal (List.sort (dependsOn (fun i -> generic.Forward(i, NodeOps.NodeEvaluation.soft)))) (List.sort expected) $"generic {name}"
                Expect.equal (List.sort (dependsOn concat.Forward)) (List.sort expected) $"concat {name}"
        }
        test "concat: the ablation's module counts, no α, every weight gets a gradient" {
            use _ = torch.NewDisposeScope()
            torch.random.manual_seed 9L |> ignore
            let spec = ModelSpec.concat Ablation11 NetworkTests.tinyDims
            let kinds s = s.Modules |> List.map (function Generic k | Concat k -> CellKind.name k | NoOp -> "noop" | Hand h -> HandModule.name h)
            Expect.equal (kinds spec) (kinds (ModelSpec.lnmn Ablation11 NetworkTests.tinyDims)) "same kinds in the same order"
            let net = LnmnNetwork.compile spec
            Expect.isEmpty (net.AlphaParameters()) "no α"
            let r = net.Forward(NetworkTests.randomBatch 9L 6 5 NetworkTests.tinyDims, NodeOps.NodeEvaluation.soft)
            r.Logits.square().sum().backward()
            for name, p in net.named_parameters() do
                Expect.isTrue (not (isNull p.grad) && p.grad.abs().sum().item<float32>() > 0.0f) $"{name} has a gradient"
        }
        test "lnmn-describe: LNMN's attention cells and their α, Describe for the answer cells; fused equals reference, every weight learns" {
            use _ = torch.NewDisposeScope()
            torch.random.manual_seed 11L |> ignore
            let spec = ModelSpec.cellsWithDescribe Ablation11 NetworkTests.tinyDims
            let kinds s = s.Modules |> List.map (function Generic k | Concat k -> CellKind.name k | NoOp -> "noop" | Hand h -> HandModule.name h)
            Expect.equal (kinds spec)
                ([ for _ in 1 .. 4 -> "attention-3in" ] @ [ for _ in 1 .. 2 -> "attention-4in" ]
                 @ [ "describe-one"; "describe-one"; "describe-two"; "describe-two"; "noop" ]) "LNMN-11's order, answer cells replaced"
            let net = LnmnNetwork.compile spec
            Expect.equal (net.AlphaParameters() |> List.sumBy (fun a -> a.numel())) ((4L * 2L + 2L * 3L) * 6L) "α of the attention cells only"
            let batch = NetworkTests.randomBatch 11L 6 5 NetworkTests.tinyDims
            let fused = net.Forward(batch, NodeOps.NodeEvaluation.soft)
            let reference = net.ReferenceForward(batch, NodeOps.NodeEvaluation.soft)
            expectAllClose 1e-5 fused.Logits reference.Logits "logits"
            fused.Logits.square().sum().backward()
            for name, p in net.named_parameters() do
                Expect.isTrue (not (isNull p.grad) && p.grad.abs().sum().item<float32>() > 0.0f) $"{name} has a gradient"
        }
        test "answer pooling: the paper's plain sum, or weighted by H·W·softmax of the map read (the sum when the map is uniform)" {
            use _ = torch.NewDisposeScope()
            // One cell, map_dim = mem_dim = 1, a 1×2 grid; the output layer passes the pooled value through.
            let weight, bias = tensorOf [| 1L; 1L; 3L |] [ 0.; 0.; 1. ], tensorOf [| 1L; 1L |] [ 0. ]
            let last = tensorOf [| 1L; 1L; 1L; 2L; 1L |] [ 2.; 5. ]
            let pooled pooling (map: float list) =
                let inputs: CellGroup.CellInputs =
                    { Image = torch.zeros(1L, 1L, 2L, 1L); TextMap = torch.ones(1L, 1L); Memory = torch.ones(1L, 1L)
                      Attention1 = tensorOf [| 1L; 1L; 2L |] map; Attention2 = None; Question = torch.ones(1L, 1L) }
                (CellGroup.output pooling Answer [ ThreeInput ] None weight bias inputs last).item<float32>() |> float
            Expect.floatClose Accuracy.high (pooled SpatialSum [ 0.; log 3. ]) 7.0 "the paper's: 2 + 5 whatever the map"
            Expect.floatClose Accuracy.high (pooled AttentionWeighted [ 0.; log 3. ]) 8.5 "2·(0.25·2 + 0.75·5)"
            Expect.floatClose Accuracy.high (pooled AttentionWeighted [ 1.; 1. ]) 7.0 "a uniform map: the plain sum"
            // m = 0.25·2 + 0.75·5 = 4.25; H·W·m² = 2·18.0625. Side by side, a layer reading [0, 0, u, v].
            Expect.floatClose Accuracy.high (pooled AttentionSquared [ 0.; log 3. ]) 36.125 "2·4.25²"
            let both (u: float) (v: float) =
                let inputs: CellGroup.CellInputs =
                    { Image = torch.zeros(1L, 1L, 2L, 1L); TextMap = torch.ones(1L, 1L); Memory = torch.ones(1L, 1L)
                      Attention1 = tensorOf [| 1L; 1L; 2L |] [ 0.; log 3. ]; Attention2 = None; Question = torch.ones(1L, 1L) }
                let weight = tensorOf [| 1L; 1L; 4L |] [ 0.; 0.; u; v ]
                (CellGroup.output AttentionWeightedAndSquared Answer [ ThreeInput ] None weight bias inputs last).item<float32>() |> float
            Expect.floatClose Accuracy.high (both 1. 0.) 8.5 "the weighted sum first"
            Expect.floatClose Accuracy.high (both 0. 1.) 36.125 "its square second"
            Expect.equal (AnswerPooling.width AttentionWeightedAndSquared 32) 64 "the answer layer reads both"
        }
        test "gated-product pooling: l2norm(c ⊙ m1) in a 3-input cell, l2norm(c ⊙ m1 ⊙ m2) in a 4-input one, side by side" {
            use _ = torch.NewDisposeScope()
            // Two cells (3-input, 4-input), map_dim 2, mem_dim 1, a 1×2 grid. The last node is [2, 0] then
            // [0, 4] in both cells; a1 = [0, ln 3] (softmax 1/4, 3/4), a2 = [ln 3, 0] (3/4, 1/4); c = [2, 1].
            // m1 = [0.5, 3], m2 = [1.5, 1]. 3-input: c ⊙ m1 = [1, 3] / √10. 4-input: c ⊙ m1 ⊙ m2 = [1.5, 3] / √11.25.
            let last = tensorOf [| 1L; 1L; 1L; 2L; 2L |] [ 2.; 0.; 0.; 4. ] |> fun t -> t.expand(1L, 2L, 1L, 2L, 2L)
            let inputs: CellGroup.CellInputs =
                { Image = torch.zeros(1L, 1L, 2L, 2L); TextMap = tensorOf [| 1L; 2L |] [ 2.; 1. ]; Memory = torch.ones(1L, 1L)
                  Attention1 = tensorOf [| 1L; 1L; 2L |] [ 0.; log 3. ]; Attention2 = Some(tensorOf [| 1L; 1L; 2L |] [ log 3.; 0. ])
                  Question = torch.zeros(1L, 1L) }
            let read (channel: int) =
                // Each cell's layer reads only pooled channel `channel` (inputs [c; mem; pooled]).
                let row = [ for i in 0 .. 4 -> if i = 3 + channel then 1. else 0. ]
                let weight = tensorOf [| 2L; 1L; 5L |] (row @ row)
                let out = CellGroup.output GatedProduct Answer [ ThreeInput; FourInput ] None weight (torch.zeros(2L, 1L)) inputs last
                out.select(2L, 0L).select(0L, 0L) |> fun t -> [ for i in 0L .. 1L -> t.[i].item<float32>() |> float ]
            let first, second = read 0, read 1
            Expect.floatClose Accuracy.medium first.[0] (1. / sqrt 10.) "3-input cell, channel 0"
            Expect.floatClose Accuracy.medium second.[0] (3. / sqrt 10.) "3-input cell, channel 1"
            Expect.floatClose Accuracy.medium first.[1] (1.5 / sqrt 11.25) "4-input cell, channel 0"
            Expect.floatClose Accuracy.medium second.[1] (3. / sqrt 11.25) "4-input cell, channel 1"
            Expect.throws (fun () ->
                CellGroup.output GatedProduct Answer [ FourInput ] None (torch.zeros(1L, 1L, 5L)) (torch.zeros(1L, 1L)) { inputs with Attention2 = None }
                    (last.narrow(1L, 0L, 1L)) |> ignore) "a 4-input cell without a second map"
        }
        test "weighted-and-describe pooling: [H·W·m ; H·W·g ⊙ p] in a 3-input cell, [H·W·m ; H·W·g ⊙ p ⊙ p] in a 4-input one" {
            use _ = torch.NewDisposeScope()
            // Two cells (3-input, 4-input), map_dim 2, mem_dim 1, a 1×2 grid, question dim 1 (c_t = 2).
            // a1 = [0, ln 3]: softmax 1/4, 3/4. The last node is [2, 0] then [0, 4]: m = [0.5, 3].
            // The img map is [4, 8] then [0, 4]: p = [1, 5]. Gates: cell 0 W_g = [1, 0], b_g = [0, 1] → g = [2, 1];
            // cell 1 W_g = [0, 1], b_g = [1, 0] → g = [1, 2]. H·W = 2.
            // 3-input: 2·[0.5, 3, 2·1, 1·5] = [1, 6, 4, 10]. 4-input: 2·[0.5, 3, 1·1, 2·25] = [1, 6, 2, 100].
            let last = tensorOf [| 1L; 1L; 1L; 2L; 2L |] [ 2.; 0.; 0.; 4. ] |> fun t -> t.expand(1L, 2L, 1L, 2L, 2L)
            let inputs: CellGroup.CellInputs =
                { Image = tensorOf [| 1L; 1L; 2L; 2L |] [ 4.; 8.; 0.; 4. ]; TextMap = tensorOf [| 1L; 2L |] [ 7.; 7. ]; Memory = torch.ones(1L, 1L)
                  Attention1 = tensorOf [| 1L; 1L; 2L |] [ 0.; log 3. ]; Attention2 = Some(tensorOf [| 1L; 1L; 2L |] [ 5.; -5. ])
                  Question = tensorOf [| 1L; 1L |] [ 2. ] }
            let gate = tensorOf [| 2L; 2L; 1L |] [ 1.; 0.; 0.; 1. ], tensorOf [| 2L; 2L |] [ 0.; 1.; 1.; 0. ]
            let read (channel: int) =
                // Each cell's layer reads only pooled value `channel` (inputs [c (2); mem (1); pooled (4)]).
                let row = [ for i in 0 .. 6 -> if i = 3 + channel then 1. else 0. ]
                let weight = tensorOf [| 2L; 1L; 7L |] (row @ row)
                let out = CellGroup.output AttentionWeightedAndDescribe Answer [ ThreeInput; FourInput ] (Some gate) weight (torch.zeros(2L, 1L)) inputs last
                [ for cell in 0L .. 1L -> out.[0L, cell, 0L].item<float32>() |> float ]
            let values = [ for channel in 0 .. 3 -> read channel ]
            let expected = [ [ 1.; 1. ]; [ 6.; 6. ]; [ 4.; 2. ]; [ 10.; 100. ] ]
            List.iteri2 (fun channel (actual: float list) (wanted: float list) ->
                List.iteri2 (fun cell a e -> Expect.floatClose Accuracy.medium a e $"cell {cell}, pooled value {channel}") actual wanted) values expected
            Expect.equal (AnswerPooling.width AttentionWeightedAndDescribe 32) 64 "the answer layer reads both"
            Expect.throws (fun () ->
                CellGroup.output AttentionWeightedAndDescribe Answer [ ThreeInput ] None (torch.zeros(1L, 1L, 7L)) (torch.zeros(1L, 1L)) inputs
                    (last.narrow(1L, 0L, 1L)) |> ignore) "no gate"
        }
        test "specs: old JSON without a pointer field reads as LNMN's soft sharpening; Stack-NMN's round-trips" {
            let lnmn = ModelSpec.lnmn Ablation9 NetworkTests.tinyDims
            let node = System.Text.Json.Nodes.JsonNode.Parse(SpecJson.serialize lnmn).AsObject()
            Expect.isTrue (node.Remove "Pointer") "the field was there"
            let old = node.ToJsonString()
            let read = SpecJson.deserialize<ModelSpec> old
            Expect.equal (ModelSpec.pointer read) (Soft 0.2) "softmax(·/0.2)"
            let stackNmn = ModelSpec.stackNmn NetworkTests.tinyDims
            Expect.equal (SpecJson.deserialize<ModelSpec> (SpecJson.serialize stackNmn)) stackNmn "round trip"
        }
        test "lnmn-train options: --model stack-nmn | concat, --pointer hard | soft" {
            let parse args =
                Argu.ArgumentParser.Create<Lnmn.Train.Options.TrainArgs>(programName = "lnmn-train").ParseCommandLine(Array.ofList args)
                |> Lnmn.Train.Options.toConfig
            match parse [ "--model"; "stack-nmn" ], parse [ "--model"; "concat"; "--pointer"; "hard" ], parse [ "--pointer"; "soft" ] with
            | Ok s, Ok c, Ok l ->
                Expect.equal (s.Model, s.Pointer) (Lnmn.Train.Configs.StackNmn, None) "stack-nmn, its own default pointer"
                Expect.equal (c.Model, c.Pointer) (Lnmn.Train.Configs.ConcatCells, Some Hard) "concat, hard"
                Expect.equal l.Pointer (Some(Soft 0.2)) "soft is LNMN's temperature"
            | _ -> failtest "valid options refused"
            match parse [ "--model"; "nmn" ] with
            | Error e -> Expect.stringContains e "stack-nmn" "names the choices"
            | Ok _ -> failtest "unknown model accepted"
        }
        test "lnmn-train options: --describe-readout normalised | unnormalised, for the models with Describe" {
            let readout args = trainConfig args |> Result.map (fun c -> c.DescribeReadout)
            Expect.equal (readout [ "--model"; "lnmn-describe"; "--describe-readout"; "unnormalised" ]) (Ok(Some Unnormalised)) "lnmn-describe, unnormalised"
            Expect.equal (readout [ "--model"; "stack-nmn"; "--describe-readout"; "normalised" ]) (Ok(Some Normalised)) "stack-nmn, normalised"
            Expect.equal (readout [ "--model"; "lnmn-describe" ]) (Ok None) "absent: None"
            match readout [ "--model"; "lnmn-describe"; "--describe-readout"; "bogus" ] with
            | Error e ->
                Expect.equal e "--describe-readout: unknown value 'bogus' (expected normalised or unnormalised)" "one line naming the option"
            | Ok _ -> failtest "unknown read-out accepted"
            match readout [ "--describe-readout"; "unnormalised" ] with
            | Error e -> Expect.equal e "--describe-readout does not apply to --model lnmn (it has no Describe modules)" "LNMN has no Describe"
            | Ok _ -> failtest "--describe-readout accepted for lnmn"
        }
    ]
