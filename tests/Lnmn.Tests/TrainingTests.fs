module Lnmn.Tests.TrainingTests

open Expecto
open TorchSharp
open Lnmn.Core.Specs
open Lnmn.Core.Network
open Lnmn.Core.Training
open Lnmn.Core.Training.TrainingSpec
open Lnmn.Tests.TestUtil

let private labelled seed =
    let input = NetworkTests.randomBatch seed 8 5 NetworkTests.tinyDims
    { Steps.Input = input; Steps.Answers = torch.randint(0L, 5L, [| 8L |], generator = new torch.Generator(uint64 seed)); Steps.SoftTargets = None }

let private snapshot (ps: Modules.Parameter list) = ps |> List.map (fun p -> p.detach().clone())

let private changed (before: torch.Tensor list) (ps: Modules.Parameter list) =
    List.map2 (fun (b: torch.Tensor) (p: Modules.Parameter) -> not (b.eq(p).all().item<bool>())) before ps

let private spec = { TrainingSpec.paper with Weights = { TrainingSpec.paper.Weights with LearningRate = 1e-2 } }

[<Tests>]
let tests =
    testList "training" [
        test "λ_w is 1.0, 11/49, 5/49 and −1.0 at paper epochs 0, 19, 20, 29" {
            let at e = EntropySchedule.lambda 30 e
            Expect.floatClose Accuracy.veryHigh (at 0) 1.0 "epoch 0"
            Expect.floatClose Accuracy.veryHigh (at 19) (11.0 / 49.0) "epoch 19: 1 − 38/49"
            Expect.floatClose Accuracy.veryHigh (at 20) (5.0 / 49.0) "epoch 20: 11/49 − 6/49"
            Expect.floatClose Accuracy.veryHigh (at 29) -1.0 "epoch 29"
        }
        test "a run of any length is cut into the paper's 30 epochs by its steps" {
            Expect.floatClose Accuracy.veryHigh (EntropySchedule.lambda 6000 0) 1.0 "first step"
            Expect.floatClose Accuracy.veryHigh (EntropySchedule.lambda 6000 5999) -1.0 "last step"
            // step 1234 of 6000 lies in paper epoch ⌊30·1234/6000⌋ = 6: 1 − 12/49
            Expect.floatClose Accuracy.veryHigh (EntropySchedule.lambda 6000 1234) (1.0 - 12.0 / 49.0) "step 1234"
            Expect.floatClose Accuracy.veryHigh (EntropySchedule.lambda 6000 199) 1.0 "still paper epoch 0"
            Expect.floatClose Accuracy.veryHigh (EntropySchedule.lambda 6000 200) (1.0 - 2.0 / 49.0) "paper epoch 1"
        }
        test "α's lr lets α travel 8 over the run's α steps, between the paper's lr and the cap" {
            Expect.floatClose Accuracy.high (AlphaSchedule.learningRate 3e-4 10_000) 8e-4 "10K α steps"
            Expect.floatClose Accuracy.veryHigh (AlphaSchedule.learningRate 3e-4 100) 3e-2 "100 steps: capped"
            Expect.floatClose Accuracy.veryHigh (AlphaSchedule.learningRate 3e-4 328_000) 3e-4 "the paper's run: the paper's lr"
            let scaled = AlphaSchedule.Rule.alphaSettings (AlphaSchedule.Scaled 0.2) TrainingSpec.paper.Alpha 12_500 None 1
            Expect.floatClose Accuracy.high scaled.LearningRate 8e-4 "12.5K weight steps, 20% warm-up: 10K α steps"
            Expect.equal (AlphaSchedule.Rule.alphaSettings AlphaSchedule.Paper TrainingSpec.paper.Alpha 12_500 None 1) TrainingSpec.paper.Alpha "paper rules: the paper's Adam"
            Expect.floatClose Accuracy.veryHigh (AlphaSchedule.learningRate 3e-4 400 * 400.0) 8.0 "uncapped, lr × steps is the travel: 8 / 400 = 0.02"
        }
        // Shown to fail with AlphaSchedule.travel set to 4: α₀ ends at 4.0, softmax 0.916.
        test "Adam at the scaled α lr carries a node from uniform to 99.8% one-hot in the run's α steps" {
            use _ = torch.NewDisposeScope()
            // 500 weight steps, 20% warm-up: 400 α steps at 8 / 400 = 0.02.
            let settings = AlphaSchedule.Rule.alphaSettings (AlphaSchedule.Scaled 0.2) TrainingSpec.paper.Alpha 500 None 1
            let alpha = torch.nn.Parameter(torch.zeros([| 6L |], dtype = torch.float64))
            let adam = torch.optim.Adam([ alpha ], lr = settings.LearningRate, beta1 = settings.Beta1, beta2 = settings.Beta2, weight_decay = settings.WeightDecay)
            for _ in 1 .. 400 do
                adam.zero_grad ()
                // A constant push on op 0: Adam's bias-corrected step is lr whatever the gradient's scale.
                (-alpha.[0]).backward ()
                adam.step () |> ignore
            let a = values alpha
            Expect.floatClose { absolute = 0.05; relative = 0.0 } a.[0] 8.0 "α₀ travelled 8"
            Expect.sequenceEqual a.[1..] (Array.zeroCreate 5) "no gradient, no decay: the others stay at 0"
            // e^8 / (e^8 + 5) = 2980.958 / 2985.958 = 0.998325
            Expect.floatClose { absolute = 2e-4; relative = 0.0 } (values (alpha.softmax(0L))).[0] 0.998325 "one-hot to 99.8%"
        }
        test "α steps start after the warm-up; frozen α never steps; the paper's rule from the first batch" {
            let searching warmup = [ 0 .. 9 ] |> List.filter (fun s -> AlphaSchedule.isSearching warmup None s 10)
            Expect.equal (searching (Some 0.2)) [ 2 .. 9 ] "20% of 10 steps"
            Expect.equal (searching None) [ 0 .. 9 ] "paper"
            Expect.equal (searching (AlphaSchedule.Rule.warmup AlphaSchedule.Frozen)) [] "frozen"
        }
        test "a run hardened at 70% searches α from its warm-up to step 7 and trains the hard-max network after" {
            let steps = [ 0 .. 9 ]
            Expect.equal (steps |> List.filter (fun s -> AlphaSchedule.isSearching (Some 0.2) (Some 0.7) s 10)) [ 2 .. 6 ] "α steps"
            Expect.equal (steps |> List.filter (fun s -> AlphaSchedule.isHardened (Some 0.7) s 10)) [ 7 .. 9 ] "hard-max weight steps"
            Expect.isEmpty (steps |> List.filter (fun s -> AlphaSchedule.isHardened None s 10)) "never without --harden-at"
            // 12.5K weight steps, α from 25% to 75% (fractions exact in binary): 6,250 α steps, so α's lr is 8 / 6,250.
            let scaled = AlphaSchedule.Rule.alphaSettings (AlphaSchedule.Scaled 0.25) TrainingSpec.paper.Alpha 12_500 (Some 0.75) 1
            Expect.floatClose Accuracy.high scaled.LearningRate (8.0 / 6250.0) "α's lr over the shorter search"
        }
        test "--alpha-every 3 takes an α step on every third batch of the α phase and triples α's lr" {
            let steps = [ 0 .. 19 ]
            let alphaSteps every = steps |> List.filter (fun s -> AlphaSchedule.takesAlphaStep (Some 0.25) (Some 0.9) every s 20)
            Expect.equal (alphaSteps None) [ 5 .. 17 ] "every batch from 25% until the run hardens at 90%"
            Expect.equal (alphaSteps (Some 3)) [ 6; 9; 12; 15 ] "the multiples of 3 among them"
            // 12.5K weight steps, α from 25% to the end: 9,375 batches, 3,125 α steps.
            let every3 = AlphaSchedule.Rule.alphaSettings (AlphaSchedule.Scaled 0.25) TrainingSpec.paper.Alpha 12_500 None 3
            Expect.floatClose Accuracy.high every3.LearningRate (8.0 / 3125.0) "α travels 8 in a third of the steps"
        }
        test "the temperature is 1 until the α phase, then falls geometrically to --anneal-to at the last step" {
            // 11 steps (0–10), warm-up 0.1: the phase starts after step 1.1, so steps 0 and 1 are at τ = 1.
            let tau s = AlphaSchedule.temperature (Some 0.01) (Some 0.1) s 11
            Expect.floatClose Accuracy.high (tau 0) 1.0 "warm-up"
            Expect.floatClose Accuracy.high (tau 1) 1.0 "before the phase"
            Expect.floatClose Accuracy.high (AlphaSchedule.temperature (Some 0.01) (Some 0.0) 5 11) 0.1 "halfway through steps 0–10: 0.01^0.5"
            Expect.floatClose Accuracy.high (tau 10) 0.01 "the last step"
            Expect.floatClose Accuracy.high (AlphaSchedule.temperature None (Some 0.1) 10 11) 1.0 "no annealing: the paper's softmax"
            Expect.isLessThan (tau 6) (tau 5) "falls"
        }
        test "uniform α gives ‖σ‖₂/‖σ‖₁ = 1/√6 per node" {
            use _ = torch.NewDisposeScope()
            let alphas = [ torch.zeros(2L, 3L, 6L); torch.zeros(1L, 2L, 6L) ]
            let value = (Objectives.alphaSparsity alphas).item<float32>() |> float
            Expect.floatClose Accuracy.medium value (8.0 / sqrt 6.0) "8 nodes"
            let oneHot = torch.tensor([| 100.0f; 0.0f; 0.0f; 0.0f; 0.0f; 0.0f |]).reshape(1L, 1L, 6L)
            Expect.floatClose Accuracy.medium ((Objectives.alphaSparsity [ oneHot ]).item<float32>() |> float) 1.0 "one-hot: 1"
        }
        test "uniform module weights have entropy log M; the paper and code scalings differ as docs/design.md §3 says" {
            use _ = torch.NewDisposeScope()
            let w = torch.full(4L, 3L, 5L, 0.2) // B = 4, T = 3, M = 5
            expectClose 1e-6 (Objectives.moduleEntropy w) (Array.create 4 (log 5.0)) "log 5 each"
            let ce = torch.tensor(2.0f)
            let paper = (Objectives.weightLoss PaperBatchMean 0.5 ce w).item<float32>() |> float
            let code = (Objectives.weightLoss AuthorsCodeSum 0.5 ce w).item<float32>() |> float
            Expect.floatClose Accuracy.medium paper (2.0 - 0.5 * log 5.0) "mean"
            Expect.floatClose Accuracy.medium code (2.0 - 0.5 * 0.01 * 4.0 * log 5.0) "0.01 · sum"
        }
        test "the weight step changes weights and not α; the α step changes α and not the weights" {
            use _ = torch.NewDisposeScope()
            torch.random.manual_seed 11L |> ignore
            let net = LnmnNetwork.compile (NetworkTests.tinySpec Ablation11 Reference)
            let state = Steps.createState spec net
            let alphas, weights = snapshot (net.AlphaParameters()), snapshot (net.WeightParameters())
            Steps.weightStep spec 1.0 state (labelled 1L) |> ignore
            Expect.allEqual (changed alphas (net.AlphaParameters())) false "α unchanged by the weight step"
            Expect.isTrue (changed weights (net.WeightParameters()) |> List.forall id) "every weight moved"
            let weights = snapshot (net.WeightParameters())
            Steps.alphaStep spec state (labelled 2L) |> ignore
            Expect.allEqual (changed weights (net.WeightParameters())) false "weights unchanged by the α step"
            Expect.isTrue (changed alphas (net.AlphaParameters()) |> List.forall id) "every α moved"
        }
        // Shown to fail with withFrozen setting requires_grad back to true: the α step unfroze the weight.
        test "a weight its owner froze stays frozen, and unchanged, through α and weight steps" {
            use _ = torch.NewDisposeScope()
            torch.random.manual_seed 12L |> ignore
            let net = LnmnNetwork.compile (NetworkTests.tinySpec Ablation11 Reference)
            let state = Steps.createState spec net
            let frozen = net.WeightParameters() |> List.head
            frozen.requires_grad <- false
            let before = frozen.detach().clone()
            Steps.alphaStep spec state (labelled 3L) |> ignore
            Expect.isFalse frozen.requires_grad "still frozen after the α step"
            Steps.weightStep spec 1.0 state (labelled 4L) |> ignore
            Expect.isFalse frozen.requires_grad "still frozen after the weight step"
            Expect.isTrue (before.eq(frozen).all().item<bool>()) "never moved"
            Expect.isTrue (net.WeightParameters() |> List.tail |> List.forall (fun p -> p.requires_grad)) "the others train"
        }
        test "the closing phase's weight step trains the hard-max network's weights and leaves α untouched" {
            use _ = torch.NewDisposeScope()
            torch.random.manual_seed 13L |> ignore
            let net = LnmnNetwork.compile (NetworkTests.tinySpec Ablation11 Reference)
            let state = Steps.createState spec net
            let batch = labelled 3L
            let crossEntropy (evaluation: NodeOps.NodeEvaluation) =
                use _ = torch.no_grad ()
                torch.nn.functional.cross_entropy(net.Forward(batch.Input, evaluation).Logits, batch.Answers).item<float32>() |> float
            let hard, soft = crossEntropy NodeOps.NodeEvaluation.hardMax, crossEntropy NodeOps.NodeEvaluation.soft
            let alphas, weights = snapshot (net.AlphaParameters()), snapshot (net.WeightParameters())
            let m = Steps.weightStepWith Steps.hardMaxForward spec 1.0 state batch
            Expect.floatClose Accuracy.medium m.CrossEntropy hard "the step's loss is the hard-max network's"
            Expect.isGreaterThan (abs (hard - soft)) 1e-3 "which the soft network's is not"
            Expect.allEqual (changed alphas (net.AlphaParameters())) false "α unchanged"
            Expect.isTrue (changed weights (net.WeightParameters()) |> List.exists id) "weights moved"
        }
        test "an annealed step trains the network at its temperature: the step's loss is softmax(α/τ)'s" {
            use _ = torch.NewDisposeScope()
            torch.random.manual_seed 14L |> ignore
            let net = LnmnNetwork.compile (NetworkTests.tinySpec Ablation11 Reference)
            do
                use _ = torch.no_grad ()
                for a in net.AlphaParameters() do a.mul_(torch.tensor(3.0f)) |> ignore // spread α so τ matters
            let state = Steps.createState spec net
            let batch = labelled 3L
            let crossEntropy (evaluation: NodeOps.NodeEvaluation) =
                use _ = torch.no_grad ()
                torch.nn.functional.cross_entropy(net.Forward(batch.Input, evaluation).Logits, batch.Answers).item<float32>() |> float
            let cold, soft = crossEntropy (NodeOps.NodeEvaluation.softAt 0.2), crossEntropy NodeOps.NodeEvaluation.soft
            Expect.isGreaterThan (abs (cold - soft)) 1e-3 "τ = 0.2 is another network"
            let m = Steps.weightStepWith (Steps.forwardAt 0.2) spec 1.0 state batch
            Expect.floatClose Accuracy.medium m.CrossEntropy cold "the step's loss is τ = 0.2's"
        }
        test "the unrolled α step changes α only, and restores the weights exactly" {
            use _ = torch.NewDisposeScope()
            torch.random.manual_seed 12L |> ignore
            let net = LnmnNetwork.compile (NetworkTests.tinySpec Ablation9 Reference)
            let state = Steps.createState spec net
            let alphas, weights = snapshot (net.AlphaParameters()), snapshot (net.WeightParameters())
            let m = Steps.unrolledAlphaStep spec 1.0 state (labelled 3L) (labelled 4L)
            Expect.isTrue (Steps.StepMetrics.isFinite m) "finite"
            Expect.allEqual (changed weights (net.WeightParameters())) false "weights restored"
            Expect.isTrue (changed alphas (net.AlphaParameters()) |> List.forall id) "α moved"
        }
        test "a NaN loss leaves the parameters as they were" {
            use _ = torch.NewDisposeScope()
            torch.random.manual_seed 13L |> ignore
            let net = LnmnNetwork.compile (NetworkTests.tinySpec Ablation9 Reference)
            let state = Steps.createState spec net
            let weights = snapshot (net.WeightParameters())
            let m = Steps.weightStep spec nan state (labelled 5L)
            Expect.isFalse (Steps.StepMetrics.isFinite m) "NaN reported"
            Expect.allEqual (changed weights (net.WeightParameters())) false "no step taken"
        }
        test "an infinite gradient norm takes no step, though the loss is finite" {
            use _ = torch.NewDisposeScope()
            torch.random.manual_seed 15L |> ignore
            let net = LnmnNetwork.compile (NetworkTests.tinySpec Ablation9 Reference)
            let state = Steps.createState spec net
            // A step leaves its gradients in place: the optimiser could step on them again.
            let finite = Steps.weightStep spec 1.0 state (labelled 6L)
            Expect.isTrue (Steps.StepMetrics.isFinite finite) "finite loss and norms"
            Expect.isGreaterThan (finite.GradientNorms |> List.sumBy snd) 0.0 "gradients to step on"
            let weights = snapshot (net.WeightParameters())
            let overflowing = { finite with GradientNorms = finite.GradientNorms @ [ "cell_groups", infinity ] }
            Expect.isFalse (Steps.StepMetrics.isFinite overflowing) "an infinite norm is not finite"
            Steps.stepIfFinite state.WeightOptimiser overflowing |> ignore
            Expect.allEqual (changed weights (net.WeightParameters())) false "no step taken"
        }
        test "a stopped run says what was not finite: the loss, else the first non-finite gradient norm" {
            let m: Steps.StepMetrics =
                { Loss = 1.5; CrossEntropy = 1.5; Accuracy = 0.5; ModuleEntropy = 0.0; ModuleEntropyPerStep = []
                  GradientNorms = [ "encoder", 0.3; "cell_groups", infinity; "classifier", nan ] }
            Expect.equal (Steps.StepMetrics.nonFinite m) (Some "the gradient norm of cell_groups became Infinity (the loss was 1.5)") "norm"
            Expect.equal (Steps.StepMetrics.nonFinite { m with Loss = nan }) (Some "the loss became NaN") "loss first"
            Expect.equal (Steps.StepMetrics.nonFinite { m with GradientNorms = [ "encoder", 0.3 ] }) None "finite"
        }
        test "fine-tuning keeps every trained parameter and the old embedding rows, adding rows for new words" {
            use _ = torch.NewDisposeScope()
            torch.random.manual_seed 14L |> ignore
            let trainedSpec = NetworkTests.tinySpec Ablation9 Reference
            let trained = LnmnNetwork.compile trainedSpec
            let expanded = LnmnNetwork.compile (FineTune.expandedSpec trainedSpec 26)
            FineTune.copyInto trained expanded
            let source = trained.named_parameters() |> Seq.map (fun struct (n, p) -> n, p) |> Map.ofSeq
            for struct (name, p) in expanded.named_parameters() do
                if name = FineTune.embeddingName then
                    Expect.equal p.shape [| 26L; int64 trainedSpec.Dims.EmbedDim |] "six more rows"
                    expectAllClose 0.0 (p.narrow(0L, 0L, 20L)) source.[name] "old rows kept"
                    Expect.isFalse (p.narrow(0L, 20L, 6L).abs().sum().item<float32>() = 0.0f) "new rows initialised"
                else expectAllClose 0.0 p source.[name] name
            Expect.throws (fun () -> FineTune.expandedSpec trainedSpec 10 |> ignore) "cannot shrink"
        }
    ]

