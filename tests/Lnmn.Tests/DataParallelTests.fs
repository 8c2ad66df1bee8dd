module Lnmn.Tests.DataParallelTests

open Expecto
open TorchSharp
open Lnmn.Core.Specs
open Lnmn.Core.Network
open Lnmn.Core.Training
open Lnmn.Core.Training.TrainingSpec
open Lnmn.Tests.TestUtil

/// Five questions: two threads take rows 0–1 and 2–4, unequal parts, so a part's share of a batch
/// mean is not ½.
let private batchSize = 5

let private labelled seed : Steps.LabelledBatch =
    { Input = NetworkTests.randomBatch seed batchSize 5 NetworkTests.tinyDims
      Answers = torch.randint(0L, 5L, [| int64 batchSize |], generator = new torch.Generator(uint64 seed))
      SoftTargets = None }

let private training scaling = { TrainingSpec.paper with Weights = { TrainingSpec.paper.Weights with LearningRate = 1e-2 }; EntropyScaling = scaling; LambdaOp = 0.5 }

/// Two networks with the same parameters, each with its own optimisers.
let private twins (spec: TrainingSpec) =
    let compile () =
        torch.random.manual_seed 21L |> ignore
        Steps.createState spec (LnmnNetwork.compile (NetworkTests.tinySpec Ablation11 Reference))
    compile (), compile ()

let private tensors (ps: Modules.Parameter list) = [ for p in ps -> p :> torch.Tensor ]
let private grads (ps: Modules.Parameter list) = [ for p in ps -> p.grad.clone() ]
let private snapshot (ts: torch.Tensor list) = [ for t in ts -> t.detach().clone() ]

let private expectSame (message: string) (actual: torch.Tensor list) (expected: torch.Tensor list) =
    Expect.equal actual.Length expected.Length $"{message}: count"
    List.iteri2 (fun i a e -> expectAllClose 1e-5 a e $"{message} {i}") actual expected

let private expectSameMetrics (actual: Steps.StepMetrics) (expected: Steps.StepMetrics) =
    let close a e what = Expect.floatClose { absolute = 1e-5; relative = 1e-5 } a e what
    close actual.Loss expected.Loss "loss"
    close actual.CrossEntropy expected.CrossEntropy "cross-entropy"
    close actual.Accuracy expected.Accuracy "accuracy"
    close actual.ModuleEntropy expected.ModuleEntropy "module entropy"
    Expect.equal actual.ModuleEntropyPerStep.Length expected.ModuleEntropyPerStep.Length "steps"
    List.iter2 (fun a e -> close a e "module entropy of a step") actual.ModuleEntropyPerStep expected.ModuleEntropyPerStep
    Expect.equal (List.map fst actual.GradientNorms) (List.map fst expected.GradientNorms) "parts with a gradient norm"
    List.iter2 (fun (part, a) (_, e) -> close a e $"gradient norm of {part}") actual.GradientNorms expected.GradientNorms

/// Parameters after an Adam step, compared where the gradient is resolved: Adam's first step is
/// lr · g / (|g| + 1e-8), so an element whose gradient is rounding noise (a bias feeding a softmax
/// that it only shifts has |g| ~ 1e-10) moves by an amount that noise decides, with one thread or two.
let private expectSameStep (message: string) (actual: Modules.Parameter list) (expected: Modules.Parameter list) =
    List.iteri2 (fun i (a: Modules.Parameter) (e: Modules.Parameter) ->
        let resolved = e.grad.abs().gt(torch.tensor 1e-6f)
        expectAllClose 1e-5 (a.detach() * resolved) (e.detach() * resolved) $"{message} {i}") actual expected

/// Every parameter of a state, weights then α.
let private allParameters (s: Steps.TrainingState) = tensors (s.Network.WeightParameters() @ s.Network.AlphaParameters())

let private changed (before: torch.Tensor list) (after: torch.Tensor list) =
    List.exists2 (fun (b: torch.Tensor) (a: torch.Tensor) -> not (b.eq(a).all().item<bool>())) before after

[<Tests>]
let tests =
    testList "data-parallel steps" [
        test "the parts are contiguous row ranges, the node kernel's split, with empty parts dropped" {
            Expect.equal (DataParallel.partRanges 2 5) [ 0, 2; 2, 5 ] "5 rows over 2"
            Expect.equal (DataParallel.partRanges 3 64) [ 0, 21; 21, 42; 42, 64 ] "64 rows over 3"
            Expect.equal (DataParallel.partRanges 4 2) [ 0, 1; 1, 2 ] "2 rows over 4"
        }
        test "--threads N on the CPU: N workers at one libtorch thread, or N libtorch threads with --parallel intra-op" {
            let workers parallelism threads = Lnmn.Core.Device.threadsAndWorkers torch.CPU parallelism threads
            Expect.equal (workers Lnmn.Core.Device.BatchWorkers (Some 3)) (Some 1, 3) "batch: three workers"
            Expect.equal (workers Lnmn.Core.Device.IntraOp (Some 3)) (Some 3, 1) "intra-op: three threads, one worker"
            Expect.equal (workers Lnmn.Core.Device.BatchWorkers (Some 1)) (Some 1, 1) "one thread: no split"
        }
        for scaling in [ PaperBatchMean; AuthorsCodeSum ] do
            testCase $"the weight step over two threads moves the weights as one thread does, with the same gradients and metrics ({scaling})" (scoped (fun () ->
                let spec = training scaling
                let one, two = twins spec
                let batch = labelled 1L
                let expected = Steps.weightStep spec 1.0 one batch
                let actual = DataParallel.weightStepWith 2 Steps.forward spec 1.0 two batch
                expectSameMetrics actual expected
                Expect.isGreaterThan (abs expected.ModuleEntropy) 1e-3 "the entropy term is not zero"
                expectSame "gradient" (grads (two.Network.WeightParameters())) (grads (one.Network.WeightParameters()))
                expectSameStep "weight" (two.Network.WeightParameters()) (one.Network.WeightParameters())
                expectSame "α" (tensors (two.Network.AlphaParameters())) (tensors (one.Network.AlphaParameters()))))
        testCase "the α step over two threads moves α as one thread does, the sparsity term counted once" (scoped (fun () ->
            let spec = training PaperBatchMean
            let one, two = twins spec
            let batch = labelled 2L
            let expected = Steps.alphaStep spec one batch
            let actual = DataParallel.alphaStepWith 2 Steps.forward spec two batch
            expectSameMetrics actual expected
            Expect.isGreaterThan (actual.Loss - actual.CrossEntropy |> abs) 1e-3 "the sparsity term is not zero"
            expectSame "gradient" (grads (two.Network.AlphaParameters())) (grads (one.Network.AlphaParameters()))
            expectSameStep "α" (two.Network.AlphaParameters()) (one.Network.AlphaParameters())
            expectSame "weight" (tensors (two.Network.WeightParameters())) (tensors (one.Network.WeightParameters()))))
        testCase "a data-parallel step leaves the frozen set's values and gradients untouched" (scoped (fun () ->
            let spec = training PaperBatchMean
            let state, _ = twins spec
            Steps.alphaStep spec state (labelled 3L) |> ignore
            Steps.weightStep spec 1.0 state (labelled 4L) |> ignore
            let alphas, alphaGrads = snapshot (tensors (state.Network.AlphaParameters())), grads (state.Network.AlphaParameters())
            let weights = snapshot (tensors (state.Network.WeightParameters()))
            DataParallel.weightStepWith 2 Steps.forward spec 1.0 state (labelled 5L) |> ignore
            Expect.isFalse (changed alphas (tensors (state.Network.AlphaParameters()))) "α after the weight step"
            Expect.isFalse (changed alphaGrads (grads (state.Network.AlphaParameters()))) "α's gradient after the weight step"
            Expect.isTrue (changed weights (tensors (state.Network.WeightParameters()))) "the weights moved"
            let weights, weightGrads = snapshot (tensors (state.Network.WeightParameters())), grads (state.Network.WeightParameters())
            DataParallel.alphaStepWith 2 Steps.forward spec state (labelled 6L) |> ignore
            Expect.isFalse (changed weights (tensors (state.Network.WeightParameters()))) "weights after the α step"
            Expect.isFalse (changed weightGrads (grads (state.Network.WeightParameters()))) "the weights' gradient after the α step"
            Expect.isTrue (changed alphas (tensors (state.Network.AlphaParameters()))) "α moved"))
        testCase "a NaN loss takes no step, in either step" (scoped (fun () ->
            let spec = { training PaperBatchMean with LambdaOp = nan }
            let state, _ = twins spec
            let weights, alphas = snapshot (tensors (state.Network.WeightParameters())), snapshot (tensors (state.Network.AlphaParameters()))
            let w = DataParallel.weightStepWith 2 Steps.forward spec nan state (labelled 7L)
            let a = DataParallel.alphaStepWith 2 Steps.forward spec state (labelled 8L)
            Expect.isFalse (Steps.StepMetrics.isFinite w) "the weight step reports NaN"
            Expect.isFalse (Steps.StepMetrics.isFinite a) "the α step reports NaN"
            Expect.isFalse (changed weights (tensors (state.Network.WeightParameters()))) "no weight step"
            Expect.isFalse (changed alphas (tensors (state.Network.AlphaParameters()))) "no α step"))
        testCase "two runs over the same number of threads agree bit for bit" (scoped (fun () ->
            let spec = training PaperBatchMean
            let first, second = twins spec
            for state in [ first; second ] do
                DataParallel.alphaStepWith 3 Steps.forward spec state (labelled 9L) |> ignore
                DataParallel.weightStepWith 3 Steps.forward spec 1.0 state (labelled 10L) |> ignore
            Expect.isFalse (changed (allParameters first) (allParameters second)) "parameters equal"))
        // Shown to fail without `runPart` setting its thread's count: the part on the calling thread
        // ran at 2, the parts on pool threads at whatever they first ran with, and two runs differed
        // in the last bits in about one run in three.
        testCase "every part runs at one intra-op thread whatever the caller's count, which is left as it was" (scoped (fun () ->
            let spec = training PaperBatchMean
            let counts = System.Collections.Concurrent.ConcurrentBag<int>()
            let counting: Steps.ForwardPass = fun network batch -> counts.Add(torch.get_num_threads ()); Steps.forward network batch
            let before = torch.get_num_threads ()
            try
                for callers in [ 1; 2; 1; 2 ] do
                    torch.set_num_threads callers
                    let first, second = twins spec
                    for state in [ first; second ] do
                        DataParallel.alphaStepWith 3 counting spec state (labelled 11L) |> ignore
                        DataParallel.weightStepWith 3 counting spec 1.0 state (labelled 12L) |> ignore
                    Expect.equal (torch.get_num_threads ()) callers "the caller's count afterwards"
                    Expect.isFalse (changed (allParameters first) (allParameters second)) $"parameters equal, caller at {callers}"
                Expect.equal (counts.ToArray() |> Array.distinct) [| 1 |] "intra-op threads seen by the parts"
            finally torch.set_num_threads before))
    ]
