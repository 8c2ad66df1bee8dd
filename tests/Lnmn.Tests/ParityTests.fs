module Lnmn.Tests.ParityTests

open System.IO
open Expecto
open TorchSharp
open Lnmn.Core.Specs
open Lnmn.Core.Network
open Lnmn.Core.Training
open Lnmn.Train
open Lnmn.Tests.TestUtil

/// A Python that imports torch: Debian's python3-torch lives under /usr/bin/python3, which another
/// python3 earlier on PATH may not see.
let private python =
    lazy
        ([ "/usr/bin/python3"; "python3" ]
         |> List.tryFind (fun p ->
             try
                 let code, _, _ = runProcess p [ "-c"; "import torch" ] (Path.GetTempPath())
                 code = 0
             with _ -> false))

let private placeholderDescription (spec: ModelSpec) : Exported.Description =
    { Model = spec; Training = TrainingSpec.TrainingSpec.paper; Words = List.init spec.Dims.Vocabulary string
      Answers = List.init spec.Dims.Answers string; DataDirectory = None; DataRecipe = None }

/// Runs python/lnmn_reference.py on `weights` (exported) and a random batch; compares its logits,
/// module weights and pointers with ours, soft and hard-max α, within 1e-4.
let private compareWithPython (network: LnmnNetwork.LnmnNetwork) (weights: string) (seed: int64) =
    match python.Force() with
    | None -> skipBecause "parity: python3-torch is not installed (apt-get install python3-torch): no independent forward to compare with"
    | Some python ->
        use _ = torch.NewDisposeScope()
        let dir = Path.GetDirectoryName weights
        let batch = NetworkTests.randomBatch seed 6 7 network.Spec.Dims
        let batchFile, outFile = Path.Combine(dir, "batch.safetensors"), Path.Combine(dir, "python.safetensors")
        Exported.writeTensors Configs.Safetensors batchFile [ "tokens", batch.Tokens; "lengths", batch.Lengths; "features", batch.Features ]
        let script = Path.Combine(repositoryRoot (), "python", "lnmn_reference.py")
        let code, _, err = runProcess python [ script; weights; batchFile; outFile ] dir
        Expect.equal code 0 $"the Python reference runs ({err})"
        let theirs = Exported.readTensors outFile |> Result.defaultWith failtest
        for mode, evaluation in [ "soft", NodeOps.NodeEvaluation.soft; "hard_max", NodeOps.NodeEvaluation.hardMax ] do
            let ours = network.Forward(batch, evaluation)
            expectAllClose 1e-4 ours.Logits theirs.[$"{mode}.logits"] $"{mode}: logits"
            expectAllClose 1e-4 ours.ModuleWeights theirs.[$"{mode}.module_weights"] $"{mode}: module weights"
            expectAllClose 1e-4 ours.Pointers theirs.[$"{mode}.pointers"] $"{mode}: stack pointers"
        Directory.Delete(dir, true)

/// An initialised network of `spec` (LNMN-`ablation`'s modules) through both implementations.
let private initialisedSpec (name: string) (ablation: Ablation) (spec: ModelSpec) =
    test $"an initialised LNMN-{Ablation.number ablation}, {name}: the Python reference gives our outputs" {
        torch.random.manual_seed 21L |> ignore
        let network = LnmnNetwork.compile spec
        let weights = Path.Combine(temporaryDirectory (), "w.safetensors")
        Exported.exportNetwork network (placeholderDescription network.Spec) Configs.Safetensors weights |> Result.defaultWith failtest |> ignore
        compareWithPython network weights (int64 (Ablation.number ablation))
    }

let private initialisedMixing (ablation: Ablation) (stack: StackDiscipline) (pooling: AnswerPooling) (cellInputs: CellInputScale) (nodeMix: NodeMix) =
    initialisedSpec $"{stack} stack, answers pooled by {pooling}, {cellInputs} cell inputs, nodes {nodeMix}" ablation
        { NetworkTests.tinySpec ablation stack with AnswerPooling = Some pooling; CellInputs = Some cellInputs; NodeMix = Some nodeMix }

let private initialisedWith ablation stack pooling cellInputs = initialisedMixing ablation stack pooling cellInputs MixThenNormalise
let private initialised ablation stack pooling = initialisedWith ablation stack pooling Raw

[<Tests>]
let tests =
    testSequenced <| testList "parity" [
        for ablation in [ Ablation9; Ablation11; Ablation14 ] do
            for stack in [ Reference; Push ] do
                yield initialised ablation stack SpatialSum
        for stack in [ Reference; Push ] do
            yield initialised Ablation11 stack AttentionWeighted
        yield initialisedWith Ablation11 Reference AttentionWeighted UnitNorm
        yield initialised Ablation11 Reference AttentionSquared
        yield initialised Ablation11 Reference AttentionWeightedAndSquared
        yield initialised Ablation11 Reference GatedProduct
        yield initialised Ablation11 Reference AttentionWeightedAndDescribe
        yield initialisedMixing Ablation11 Reference AttentionWeightedAndDescribe Raw NormaliseEachOp
        yield initialisedSpec "Reference stack started at ones, each-op nodes" Ablation11
                  { NetworkTests.tinySpec Ablation11 Reference with StackStart = Some Ones; NodeMix = Some NormaliseEachOp; AnswerPooling = Some AttentionWeightedAndDescribe }
        yield test "a trained LNMN-11 exported as a PyTorch state dict: the Python reference gives our outputs" {
            let checkpoint = ExportTests.trainedCheckpoint.Force()
            let weights = Path.Combine(temporaryDirectory (), "w.pt")
            Exported.export checkpoint Configs.PyTorch weights |> Result.defaultWith failtest |> ignore
            compareWithPython (ExportTests.loadNetwork checkpoint) weights 3L
        }
    ]
