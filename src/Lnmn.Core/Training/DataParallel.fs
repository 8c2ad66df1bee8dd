/// The first-order steps of `Steps` with the batch split into W contiguous parts, each run on its
/// own thread (forward, its share of the loss, its gradients) with libtorch at one intra-op thread,
/// whatever the calling thread's count (left as it was); the calling thread adds the parts'
/// gradients in part order and steps the optimiser as `Steps` does, so a run is repeatable for a
/// given W (docs/design.md §3, "Threads").
///
/// The parts' losses add up to the whole batch's: a batch mean (the CE, the paper's entropy term)
/// is scaled by the part's share of the batch, a batch sum (the authors' code's entropy term) is
/// not, and α's sparsity, which does not depend on the batch, is added in part 0 only. Gradients
/// come from `autograd.grad`, not `backward`, so no two threads accumulate into one `.grad`; dispose
/// scopes are per thread, so each part opens its own and hands its results back detached from it.
module Lnmn.Core.Training.DataParallel

open System.Threading.Tasks
open TorchSharp
open Lnmn.Core.Network.LnmnNetwork
open Lnmn.Core.Training.Steps
open Lnmn.Core.Training.TrainingSpec

/// Part i of `parts` holds rows [B·i/parts, B·(i+1)/parts) (the node kernel's split); empty parts are dropped.
let partRanges (parts: int) (batchSize: int) =
    [ for i in 0 .. parts - 1 -> batchSize * i / parts, batchSize * (i + 1) / parts ]
    |> List.filter (fun (first, last) -> last > first)

let private rows (batch: LabelledBatch) (first: int, last: int) =
    let take (t: torch.Tensor) = t.narrow(0L, int64 first, int64 (last - first))
    { Input = { Tokens = take batch.Input.Tokens; Lengths = take batch.Input.Lengths; Features = take batch.Input.Features }
      Answers = take batch.Answers
      SoftTargets = batch.SoftTargets |> Option.map take }

/// A part's share of the loss, its share of the CE and its forward result, given the part's index
/// and its share of the batch.
type private PartObjective = int -> float -> LabelledBatch -> torch.Tensor * torch.Tensor * ForwardResult

/// What a part hands back, detached from its thread's dispose scope; a gradient is null for a
/// parameter the part's loss does not reach.
type private PartResult =
    { Loss: torch.Tensor
      CrossEntropy: torch.Tensor
      Logits: torch.Tensor
      ModuleWeights: torch.Tensor
      Gradients: torch.Tensor[] }

let private runPart (objective: PartObjective) (trained: torch.Tensor[]) (index: int) (share: float) (part: LabelledBatch) =
    // libtorch keeps the intra-op count per OS thread: a pool thread keeps the count it first ran
    // with, and Parallel.For runs a part on the calling thread, so parts on different counts
    // reduced in different orders and two runs differed in the last bits. Each part sets its own.
    torch.set_num_threads 1
    use _ = torch.NewDisposeScope()
    let loss, crossEntropy, result = objective index share part
    let gradients = torch.autograd.grad([| loss |], trained, allow_unused = true) |> Array.ofSeq
    let keep (t: torch.Tensor) = if isNull t then null else t.detach().DetachFromDisposeScope()
    { Loss = keep loss; CrossEntropy = keep crossEntropy; Logits = keep result.Logits
      ModuleWeights = keep result.ModuleWeights; Gradients = Array.map keep gradients }

/// Runs the parts, loads the sum of their gradients into `.grad` of the trained parameters, and
/// steps `optimiser` when the loss is finite.
let private step parts (objective: PartObjective) (trained: Modules.Parameter list) (optimiser: Modules.Adam) (batch: LabelledBatch) withGradientNorms (network: LnmnNetwork) =
    use scope = torch.NewDisposeScope()
    let batchSize = int batch.Answers.shape[0]
    let ranges = partRanges parts batchSize |> Array.ofList
    let inputs = Array.map (rows batch) ranges
    let tensors = trained |> List.map (fun p -> p :> torch.Tensor) |> Array.ofList
    let results = Array.zeroCreate<PartResult> ranges.Length
    let run i =
        let first, last = ranges.[i]
        results.[i] <- runPart objective tensors i (float (last - first) / float batchSize) inputs.[i]
    let callersThreads = torch.get_num_threads ()
    Parallel.For(0, ranges.Length, ParallelOptions(MaxDegreeOfParallelism = ranges.Length), run) |> ignore
    torch.set_num_threads callersThreads
    for r in results do
        scope.Attach([ r.Loss; r.CrossEntropy; r.Logits; r.ModuleWeights; yield! r.Gradients |> Array.filter (isNull >> not) ] |> Seq.cast<System.IDisposable>) |> ignore
    let total (pick: PartResult -> torch.Tensor) = results |> Array.map pick |> Array.reduce (+)
    optimiser.zero_grad ()
    trained |> List.iteri (fun j p ->
        match results |> Array.map (fun r -> r.Gradients.[j]) |> Array.filter (isNull >> not) with
        | [||] -> ()
        | gradients -> p.grad <- Array.reduce (+) gradients)
    let m =
        metricsOf (total _.Loss) (total _.CrossEntropy)
            (torch.cat(Array.map _.Logits results, 0L)) (torch.cat(Array.map _.ModuleWeights results, 0L)) batch
    { m with GradientNorms = if withGradientNorms then gradientNorms network else [] } |> stepIfFinite optimiser

let private scaled (share: float) (t: torch.Tensor) = Lnmn.Core.Network.Tensors.withScalar share (fun s -> t * s)

/// `Steps.weightStepWith` over `parts` threads; one part is `Steps.weightStepWith` itself.
let weightStepWith (parts: int) (pass: ForwardPass) (spec: TrainingSpec) (lambdaW: float) (state: TrainingState) (batch: LabelledBatch) : StepMetrics =
    if parts <= 1 then Steps.weightStepWith pass spec lambdaW state batch
    else
        let entropyShare share = match spec.EntropyScaling with PaperBatchMean -> share | AuthorsCodeSum -> 1.0
        let objective: PartObjective = fun _ share part ->
            let result = pass state.Network part.Input
            let ce = Objectives.answerLoss spec.AnswerLoss result.Logits part.Answers part.SoftTargets |> scaled share
            Objectives.weightLoss spec.EntropyScaling (lambdaW * entropyShare share) ce result.ModuleWeights, ce, result
        withFrozen (state.Network.AlphaParameters()) (fun () ->
            step parts objective (state.Network.WeightParameters()) state.WeightOptimiser batch true state.Network)

/// `Steps.alphaStepWith` over `parts` threads; one part is `Steps.alphaStepWith` itself.
let alphaStepWith (parts: int) (pass: ForwardPass) (spec: TrainingSpec) (state: TrainingState) (batch: LabelledBatch) : StepMetrics =
    if parts <= 1 then Steps.alphaStepWith pass spec state batch
    else
        let alphas = state.Network.AlphaParameters()
        let objective: PartObjective = fun index share part ->
            let result = pass state.Network part.Input
            let ce = Objectives.answerLoss spec.AnswerLoss result.Logits part.Answers part.SoftTargets |> scaled share
            let loss = if index = 0 then Objectives.alphaLoss spec.LambdaOp ce [ for a in alphas -> a :> torch.Tensor ] else ce
            loss, ce, result
        withFrozen (state.Network.WeightParameters()) (fun () ->
            step parts objective alphas state.AlphaOptimiser batch false state.Network)

/// `Steps.architectureStep` with the first-order α step, its network run by `pass`, over `parts`
/// threads (the unrolled step runs on one).
let architectureStepWith (parts: int) (pass: ForwardPass) spec lambdaW state trainBatch archBatch =
    Steps.architectureStepWith (alphaStepWith parts pass) spec lambdaW state trainBatch archBatch
