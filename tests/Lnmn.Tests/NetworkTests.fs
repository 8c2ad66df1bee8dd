module Lnmn.Tests.NetworkTests

open Expecto
open TorchSharp
open Lnmn.Core.Specs
open Lnmn.Core.Network
open Lnmn.Core.Network.LnmnNetwork
open Lnmn.Tests.TestUtil

let tinyDims =
    { Steps = 3; StackLength = 4; MapDim = 12; EmbedDim = 8; LstmHidden = 8; KbDim = 16; MemDim = 12
      Answers = 5; Vocabulary = 20; InputChannels = 6; GridHeight = 3; GridWidth = 4 }

let tinySpec ablation stack = { ModelSpec.lnmn ablation tinyDims with Stack = stack }

/// A random batch: lengths between 1 and maxLength, tokens in 2..vocab−1, zero padding.
let randomBatch (seed: int64) (batch: int) (maxLength: int) (dims: ModelDims) =
    let g = new torch.Generator(uint64 seed)
    let lengths = torch.randint(1L, int64 maxLength + 1L, [| int64 batch |], generator = g)
    let tokens = torch.randint(2L, int64 dims.Vocabulary, [| int64 batch; int64 maxLength |], generator = g)
    let mask = Tensors.lengthMask lengths (int64 maxLength)
    { Tokens = tokens * mask.to_type(torch.int64); Lengths = lengths
      Features = torch.randn([| int64 batch; int64 dims.InputChannels; int64 dims.GridHeight; int64 dims.GridWidth |], generator = g) }

let private slice (b: Batch) (i: int64) (length: int64) =
    { Tokens = b.Tokens.narrow(0L, i, 1L).narrow(1L, 0L, length); Lengths = b.Lengths.narrow(0L, i, 1L)
      Features = b.Features.narrow(0L, i, 1L) }

[<Tests>]
let tests =
    testList "network" [
        test "forward shapes and records for ablation 11" {
            use _ = torch.NewDisposeScope()
            torch.random.manual_seed 1L |> ignore
            let net = compile (tinySpec Ablation11 Reference)
            let r = net.Forward(randomBatch 1L 5 7 tinyDims, NodeOps.NodeEvaluation.soft)
            Expect.equal r.Logits.shape [| 5L; 5L |] "logits"
            Expect.equal r.ModuleWeights.shape [| 5L; 3L; 11L |] "w(t) over 11 modules, NoOp included"
            Expect.equal r.WordAttention.shape [| 5L; 3L; 7L |] "word attention"
            Expect.equal r.Pointers.shape [| 5L; 3L; 4L |] "pointers"
            Expect.equal r.AttentionMaps.shape [| 5L; 3L; 3L; 4L |] "maps"
            expectAllClose 1e-5 (r.ModuleWeights.sum(-1L)) (torch.ones(5L, 3L)) "w(t) sums to one"
            expectAllClose 1e-5 (r.Pointers.sum(-1L)) (torch.ones(5L, 3L)) "pointer sums to one"
        }

        // With NoOp the only module, every step keeps the stack, so the map under the pointer is what
        // the stack started with at every step.
        test "the stack starts as StackStart says: zeros for the reference discipline, ones for push or when asked" {
            use _ = torch.NewDisposeScope()
            let maps (stack: StackDiscipline) (start: StackStart option) =
                let net = compile { tinySpec Ablation11 stack with Modules = [ NoOp ]; StackStart = start }
                net.Forward(randomBatch 2L 3 5 tinyDims, NodeOps.NodeEvaluation.soft).AttentionMaps
            let zeros, ones = torch.zeros(3L, 3L, 3L, 4L), torch.ones(3L, 3L, 3L, 4L)
            expectAllClose 1e-6 (maps Reference None) zeros "reference, the authors' start: zeros"
            expectAllClose 1e-6 (maps Reference (Some Ones)) ones "reference started at ones"
            expectAllClose 1e-6 (maps Push None) ones "push: ones"
            expectAllClose 1e-6 (maps Push (Some Zeros)) zeros "push started at zeros"
        }

        // Shown to fail with the text projection's bias dropped (textProjection built without one).
        test "α and the weights hold the values counted by hand from docs/design.md §3, disjoint and covering every parameter" {
            use _ = torch.NewDisposeScope()
            let dims =
                { Steps = 2; StackLength = 3; MapDim = 4; EmbedDim = 3; LstmHidden = 2; KbDim = 5; MemDim = 3
                  Answers = 4; Vocabulary = 7; InputChannels = 2; GridHeight = 2; GridWidth = 3 }
            let net = compile (ModelSpec.lnmn Ablation9 dims)
            // q = 2·2 = 4; M = 9 modules: 4 + 2 attention cells, 1 + 1 answer cells, NoOp.
            let expected =
                [ "encoder", 7 * 3 + 2 * (4 * 2 * (3 + 2) + 2 * 4 * 2) // embedding; per direction W_ih, W_hh, two biases
                  "controller", 2 * 4 * 4 + 4 + 4 + (8 * 4 + 4) + 9 * 4 + (4 + 1) // W1(t) per step, b1, c_0, W2, module scores, W3
                  "kb", (130 * 5 + 5) + (5 * 5 + 5) // conv1x1(C + 128 → kb), conv1x1(kb → kb)
                  "image_projection", 5 * 4 + 4
                  "text_projection", 4 * 4 + 4
                  "cell_groups", 6 * (4 + 1) + 2 * (11 * 3 + 3) // attention conv1x1(map → 1); answer Linear([c; mem; Σ] → mem)
                  "classifier", (7 * 512 + 512) + (512 * 4 + 4) ] // Linear([q; mem] → 512), Linear(512 → answers)
            let alphaCount = 6 * (4 * 2 + 2 * 3 + 1 * 2 + 1 * 3) // 19 nodes: Table 3's LNMN-9, 114 α
            let alphas, weights = net.AlphaParameters(), net.WeightParameters()
            let numel (ps: Modules.Parameter list) = ps |> List.sumBy (fun p -> int (p.numel()))
            Expect.equal (numel alphas) alphaCount "α values"
            let handles (ps: seq<Modules.Parameter>) = ps |> Seq.map (fun p -> p.Handle) |> set
            Expect.isEmpty (Set.intersect (handles alphas) (handles weights)) "disjoint"
            Expect.equal (Set.union (handles alphas) (handles weights)) (handles (net.parameters())) "covering"
            let alphaHandles = handles alphas
            let perPart =
                net.named_parameters()
                |> Seq.filter (fun struct (_, p) -> not (alphaHandles.Contains p.Handle))
                |> Seq.groupBy (fun struct (name, _) -> name.Split('.').[0])
                |> Seq.map (fun (part, ps) -> part, ps |> Seq.sumBy (fun struct (_, p) -> int (p.numel())))
                |> List.ofSeq
            Expect.equal (List.sortBy fst perPart) (List.sortBy fst expected) "weights per part"
            Expect.equal (numel weights) (List.sumBy snd expected) "weights in all"
            for ablation, count in [ Ablation11, 144; Ablation14, 192 ] do
                Expect.equal (numel ((compile (ModelSpec.lnmn ablation dims)).AlphaParameters())) count $"{ablation}: α values"
        }

        for stack in [ Reference; Push ] do
            test $"every parameter gets a non-zero gradient from one backward pass ({stack} stack)" {
                use _ = torch.NewDisposeScope()
                torch.random.manual_seed 2L |> ignore
                let net = compile (tinySpec Ablation14 stack)
                let r = net.Forward(randomBatch 2L 6 5 tinyDims, NodeOps.NodeEvaluation.soft)
                r.Logits.square().sum().backward()
                for name, p in net.named_parameters() do
                    let g = p.grad
                    Expect.isTrue (not (isNull g) && g.abs().sum().item<float32>() > 0.0f) $"{name} has a gradient"
            }

        test "node 0 of a 4-input cell (one channel, so normalised to a sign) gets no gradient from the data" {
            use _ = torch.NewDisposeScope()
            torch.random.manual_seed 3L |> ignore
            let net = compile (tinySpec Ablation11 Reference)
            let r = net.Forward(randomBatch 3L 6 5 tinyDims, NodeOps.NodeEvaluation.soft)
            r.Logits.square().sum().backward()
            for g in net.CellGroups do
                let node0 = g.Alpha.grad.select(1L, 0L).abs().sum().item<float32>()
                let node1 = g.Alpha.grad.select(1L, 1L).abs().sum().item<float32>()
                match g.Kind.Arity with
                | FourInput -> Expect.isLessThan node0 (1e-6f * node1) $"{CellKind.name g.Kind} node 0, numerically zero"
                | ThreeInput -> Expect.isGreaterThan node0 0.0f $"{CellKind.name g.Kind} node 0"
                Expect.isGreaterThan node1 0.0f $"{CellKind.name g.Kind} node 1"
        }

        test "the authors' initialisation: N(0,1) conv biases, zero linear biases, xavier weights; torch defaults stay within 1/√fan-in" {
            use _ = torch.NewDisposeScope()
            torch.random.manual_seed 3L |> ignore
            let dims = { tinyDims with KbDim = 400; MapDim = 300 }
            let parameter (net: LnmnNetwork) name = net.named_parameters() |> Seq.pick (fun struct (n, p) -> if n = name then Some p else None)
            let std (t: torch.Tensor) = t.std().item<float32>() |> float
            let maxAbs (t: torch.Tensor) = t.abs().max().item<float32>() |> float
            let authors = compile { ModelSpec.lnmn Ablation11 dims with Initialisation = Some AuthorsCode }
            // 400 + 300 samples of N(0,1): the sample std is within ±0.15 of 1 with overwhelming odds.
            Expect.floatClose { absolute = 0.15; relative = 0.0 } (std (parameter authors "kb.conv2.bias")) 1.0 "kb conv bias ~ N(0,1)"
            Expect.floatClose { absolute = 0.15; relative = 0.0 } (std (parameter authors "image_projection.bias")) 1.0 "img conv bias ~ N(0,1)"
            Expect.equal (maxAbs (parameter authors "classifier.hidden.bias")) 0.0 "linear biases are zero"
            Expect.equal (maxAbs (parameter authors "controller.shared_bias")) 0.0 "b1 is zero"
            // xavier-normal std √(2 / (fan-in + fan-out)) for the 512×(q + mem) classifier layer
            let hidden = parameter authors "classifier.hidden.weight"
            let expected = sqrt (2.0 / float (hidden.shape.[0] + hidden.shape.[1]))
            Expect.floatClose { absolute = 0.0; relative = 0.05 } (std hidden) expected "xavier-normal std"
            let torchDefaults = compile { ModelSpec.lnmn Ablation11 dims with Initialisation = Some TorchDefaults }
            Expect.isLessThanOrEqual (maxAbs (parameter torchDefaults "kb.conv2.bias")) (1.0 / sqrt 400.0) "U(±1/√fan-in) bias"
        }

        test "padding changes no output" {
            use _ = torch.NewDisposeScope()
            torch.random.manual_seed 4L |> ignore
            let net = compile (tinySpec Ablation11 Reference)
            net.eval ()
            let b = randomBatch 4L 4 6 tinyDims
            let padded = { b with Tokens = torch.cat([| b.Tokens; torch.zeros(4L, 5L, dtype = torch.int64) |], 1L) }
            let r1 = net.Forward(b, NodeOps.NodeEvaluation.soft)
            let r2 = net.Forward(padded, NodeOps.NodeEvaluation.soft)
            expectAllClose 1e-5 r2.Logits r1.Logits "logits"
            expectAllClose 1e-5 (r2.WordAttention.narrow(2L, 0L, 6L)) r1.WordAttention "word attention"
            expectAllClose 0.0 (r2.WordAttention.narrow(2L, 6L, 5L)) (torch.zeros(4L, 3L, 5L)) "no attention on padding"
        }

        for stack in [ Reference; Push ] do
            test $"an example gives the same logits alone and inside a batch ({stack} stack)" {
                use _ = torch.NewDisposeScope()
                torch.random.manual_seed 5L |> ignore
                let net = compile (tinySpec Ablation9 stack)
                let b = randomBatch 5L 6 8 tinyDims
                let together = net.Forward(b, NodeOps.NodeEvaluation.soft).Logits
                for i in 0L .. 5L do
                    let alone = net.Forward(slice b i (b.Lengths.[i].item<int64>()), NodeOps.NodeEvaluation.soft).Logits
                    expectAllClose 1e-5 alone (together.narrow(0L, i, 1L)) $"example {i}"
            }

        test "the reference stack's pointer stays at the bottom slot" {
            use _ = torch.NewDisposeScope()
            torch.random.manual_seed 6L |> ignore
            let net = compile (tinySpec Ablation11 Reference)
            let r = net.Forward(randomBatch 6L 4 5 tinyDims, NodeOps.NodeEvaluation.soft)
            // Nothing pushes: after step 0 every module's pointer is the one-hot bottom, sharpened
            // to softmax(one-hot / 0.2) = e^5 / (e^5 + 3) there; later steps keep the bottom the largest.
            let bottom = exp 5.0 / (exp 5.0 + 3.0)
            expectAllClose 1e-5 (r.Pointers.select(1L, 0L).select(1L, 0L)) (torch.full(4L, bottom)) "bottom slot weight at t = 0"
            expectAllClose 0.0 (r.Pointers.argmax(-1L)) (torch.zeros(4L, 3L)) "bottom slot largest at every step"
        }

        test "a tiny model fits 64 fixed random examples to 100% training accuracy" {
            use _ = torch.NewDisposeScope()
            torch.random.manual_seed 8L |> ignore
            let net = compile (tinySpec Ablation11 Reference)
            let b = randomBatch 8L 64 6 tinyDims
            let answers = torch.randint(0L, 5L, [| 64L |], generator = new torch.Generator(9UL))
            let optimiser = torch.optim.Adam(net.parameters(), lr = 0.01)
            let accuracy () =
                use _ = torch.no_grad ()
                let predicted = net.Forward(b, NodeOps.NodeEvaluation.soft).Logits.argmax(-1L)
                predicted.eq(answers).to_type(torch.float32).mean().item<float32>()
            let mutable step = 0
            while step < 400 && accuracy () < 1.0f do
                use _ = torch.NewDisposeScope()
                optimiser.zero_grad ()
                let loss = torch.nn.functional.cross_entropy(net.Forward(b, NodeOps.NodeEvaluation.soft).Logits, answers)
                loss.backward ()
                optimiser.step () |> ignore
                step <- step + 1
            Expect.equal (accuracy ()) 1.0f $"all 64 right after {step} steps"
        }
    ]
