// The oracle-map instrument (issue 25): does LNMN fail comparisons for want of a map covering the two
// compared objects, or because its answer cells cannot compare what such a map covers? Trains a
// network as `lnmn-train` would (same options, same Algorithm 2 steps, λ_w and learning rate
// schedules; no checkpoints or run folder) with the answer cells reading oracle maps built from
// each question's scene and program (`OracleMaps`) in place of the stack, attention cells as usual,
// and prints the validation accuracy per category and subtype, the oracle maps given there too.
//   dotnet fsi src/Lnmn.Analysis/scripts/oracle.fsx MODE [centre|shown] [lnmn-train options]
// MODE: learnt (no oracle: the network as it is), union (answer cells read the union of the two
// compared objects), per-object (3-input answer cells read the first object, 4-input ones the
// first and the second as a1 and a2; with --model stack-nmn or lnmn-describe, Describe reads a
// stack holding the first at the pointer and the second below). centre (default): each object is
// its centre cell; shown: the cells its disc shows in the features (the map's extent then tells
// size). The data must be a generated built-in dataset (it has scenes and programs), e.g.
// `lnmn-train generate --groups comparison,compare_integer --out DIR`. docs/comparisons.md has the
// runs and what they showed.
//   dotnet fsi src/Lnmn.Analysis/scripts/oracle.fsx union centre --data DIR --ablation 11 --threads 1 --epochs 2
// With `--start-from CKPT` (learnt mode) it probes learnt maps instead: see below.
#load "load.fsx"
#r "../../Lnmn.Train/bin/Release/net10.0/Argu.dll"
open Load
open Argu
open TorchSharp
open Lnmn.Core
open Lnmn.Core.Data
open Lnmn.Core.Network
open Lnmn.Core.Training
open Lnmn.Analysis
open Lnmn.Train

let usage = "src/Lnmn.Analysis/scripts/oracle.fsx learnt|union|per-object [centre|shown] [lnmn-train options]"
let args = arguments usage 1
let mode =
    match args[0] with
    | "learnt" -> None
    | "union" -> Some OracleMaps.Union
    | "per-object" -> Some OracleMaps.PerObject
    | other ->
        eprintfn "unknown mode '%s'; usage: dotnet fsi %s" other usage
        exit 2

let footprint, restArgs =
    match Array.tryItem 1 args with
    | Some "centre" -> OracleMaps.Centre, args[2..]
    | Some "shown" -> OracleMaps.Shown, args[2..]
    | _ -> OracleMaps.Centre, args[1..]

// --start-from CKPT (the learnt-map probe): every parameter of the checkpoint's network whose name
// and shape this network shares is copied in and frozen, but the classifier's; the rest (e.g. LNMN's
// answer cells after a `--model lnmn-describe` run) trains on the maps the frozen cells draw.
/// The value of the script's own option `name` and the arguments without it.
let takeOption (name: string) (args: string[]) =
    match Array.tryFindIndex ((=) name) args with
    | Some i when i + 1 < args.Length -> Some args[i + 1], Array.append args[.. i - 1] args[i + 2 ..]
    | Some _ -> eprintfn "%s needs a value" name; exit 2
    | None -> None, args

/// Whether the script's own switch `name` is given, and the arguments without it.
let takeFlag (name: string) (args: string[]) = Array.contains name args, Array.filter ((<>) name) args

// --genotype-out FILE: the trained network's architecture written there at the end (`Genotype`).
// --retrain P1,P2: parameters whose names start with one of these are not copied (e.g.
// cell_groups.2,cell_groups.3, LNMN-11's answer cells, to probe an LNMN run's own maps).
// --train-copied: the copied parameters train too (a warm start, not a probe of frozen maps).
// --unfreeze-at STEP: the copied parameters are frozen until this weight step, then train.
// --answer-inputs detached|own: the img and txt maps answer cells read (`ReferenceStep.AnswerInputs`;
// the reference forward, slower): the shared ones with their gradient stopped, so only attention
// cells shape them, or projections of their own from kb and c_t, trained with the weights.
let answerInputsName, afterDetach =
    let name, rest = takeOption "--answer-inputs" restArgs
    defaultArg name "shared", rest
// --answer-lr-scale X: the answer cells' output layers train at X times the weight learning rate
// (their own Adam), to test whether cells that learn to read faster pull the maps along.
let answerLrScale, afterScale =
    let scale, rest = takeOption "--answer-lr-scale" afterDetach
    Option.map float scale, rest
let startFrom, genotypeOut, retrained, trainCopied, unfreezeAt, trainArgs =
    let startFrom, rest = takeOption "--start-from" afterScale
    let genotypeOut, rest = takeOption "--genotype-out" rest
    let retrain, rest = takeOption "--retrain" rest
    let trainCopied, rest = takeFlag "--train-copied" rest
    let unfreezeAt, rest = takeOption "--unfreeze-at" rest
    startFrom, genotypeOut, (retrain |> Option.map (fun r -> r.Split ',' |> List.ofArray) |> Option.defaultValue []), trainCopied, Option.map int unfreezeAt, rest

let fail (e: string) =
    eprintfn "%s" e
    exit 1

let config =
    let parsed = ArgumentParser.Create<Options.TrainArgs>(programName = "oracle.fsx").ParseCommandLine(trainArgs)
    match Options.toConfig parsed with
    | Ok c -> c
    | Error e -> fail e
let setup = match RunSetup.prepare config with Ok s -> s | Error e -> fail e
let data, training, device = setup.Data, setup.Training, setup.Device
let gridSize = data.Train.Features.Height

/// Per question of a split's file (by QuestionIndex): its (first, second) oracle maps.
let oracleOf (split: string) : Batching.Example -> float32[] * float32[] =
    let dir = data.Location.Directory
    let scenes = ClevrJson.readScenes (DatasetLayout.scenesFile dir split) |> Seq.map (fun s -> s.ImageIndex, s) |> Map.ofSeq
    let questions = ClevrJson.readQuestions (DatasetLayout.questionsFile dir split) |> Array.ofSeq
    let modeOr = defaultArg mode OracleMaps.Union
    let maps =
        questions
        |> Array.map (fun q ->
            match q.Program with
            | Some program -> OracleMaps.questionMaps modeOr footprint gridSize scenes[q.ImageIndex] program
            | None -> fail $"question {q.Index} of {split} has no program: the oracle needs the built-in data's programs")
    fun e -> maps[e.QuestionIndex]

/// --answer-inputs own: the answer cells' img projection (a 1×1 conv of kb as a linear over its
/// channels-last layout) and txt projection, outside the network, trained by their own Adam.
let ownProjections =
    match answerInputsName with
    | "own" ->
        let d = setup.Network.Spec.Dims
        Some(torch.nn.Linear(int64 d.KbDim, int64 d.MapDim), torch.nn.Linear(int64 (Specs.ModelDims.questionDim d), int64 d.MapDim))
    | _ -> None
let answerInputs =
    match answerInputsName, ownProjections with
    | "shared", _ -> ReferenceStep.Shared
    | "detached", _ -> ReferenceStep.Detached
    | "own", Some(image, text) -> ReferenceStep.Own(image.call, text.call)
    | other, _ -> fail $"--answer-inputs: shared, detached or own, not '{other}'"

let trainOracle, valOracle = oracleOf "train", oracleOf "val"
let covered = data.Validation.Examples |> Array.filter (fun e -> fst (valOracle e) |> Array.exists (fun v -> v > 0.0f)) |> Array.length
printfn "oracle: %s (%s cells); %d of %d validation questions have a non-zero oracle map; grid %d×%d, object logit %g"
    args[0] (OracleMaps.Footprint.name footprint) covered data.Validation.Examples.Length gridSize gridSize OracleMaps.objectLogit

/// The forward pass for a batch of examples: the usual one, or the reference one with oracle maps.
let passFor (oracle: Batching.Example -> float32[] * float32[]) (examples: Batching.Example[]) : Steps.ForwardPass =
    let reads maps : ReferenceStep.AnswerReads = { Maps = maps; Inputs = answerInputs }
    match mode, answerInputs with
    | None, ReferenceStep.Shared -> Steps.forward
    | None, _ -> fun network batch -> network.ReferenceForward(batch, NodeOps.NodeEvaluation.soft, reads None)
    | Some _, _ ->
        fun network batch ->
            let maps = OracleMaps.answerMaps device gridSize (examples |> Array.map oracle)
            network.ReferenceForward(batch, NodeOps.NodeEvaluation.soft, reads (Some maps))

startFrom
|> Option.iter (fun path ->
    match Checkpoint.openState path with
    | Error e -> fail e
    | Ok(_, trained) ->
        let source = trained.Network.named_parameters() |> Seq.map (fun struct (n, p) -> n, p) |> Map.ofSeq
        use _ = torch.no_grad ()
        let copied =
            [ for struct (name, p) in setup.Network.named_parameters() do
                match source.TryFind name with
                | Some from when from.shape = p.shape && not (retrained |> List.exists name.StartsWith) ->
                    p.copy_(from) |> ignore
                    if not (trainCopied || name.StartsWith "classifier") then p.requires_grad <- false
                    yield name
                | _ -> () ]
        let all = setup.Network.named_parameters() |> Seq.length
        let frozen =
            match trainCopied, unfreezeAt with
            | true, _ -> "all training"
            | false, Some step -> $"all but the classifier's frozen until step {step}"
            | false, None -> "all but the classifier's frozen"
        printfn "started from %s: %d of %d parameters copied, %s; trained from scratch: %s" path copied.Length all frozen
            (setup.Network.named_parameters() |> Seq.map (fun struct (n, _) -> n) |> Seq.filter (fun n -> not (List.contains n copied)) |> String.concat ", "))

/// At --unfreeze-at, every parameter trains: the weights in weight steps, α in α steps.
let unfreezeIfDue (step: int) =
    if unfreezeAt = Some step then
        for p in setup.Network.parameters() do p.requires_grad <- true
        printfn "step %d: the copied parameters train from here on" step
let answerWeights =
    [ for g in setup.Network.CellGroups do
        if g.Kind.Role = Specs.Answer then yield! [ g.OutWeight; g.OutBias ] ]
/// The state, and the Adams beside its weight optimiser with their factors on the weight lr: the
/// answer cells' output layers (--answer-lr-scale) and the own projections (--answer-inputs own).
let state, extraOptimisers =
    let state = Steps.createState training setup.Network
    let state, answer =
        match answerLrScale with
        | None -> state, []
        | Some scale ->
            let others = setup.Network.WeightParameters() |> List.filter (fun p -> not (answerWeights |> List.exists (fun a -> obj.ReferenceEquals(a, p))))
            { state with WeightOptimiser = Steps.adam others training.Weights }, [ Steps.adam answerWeights training.Weights, scale ]
    let projections =
        ownProjections
        |> Option.map (fun (image, text) -> Steps.adam (List.ofSeq (image.parameters()) @ List.ofSeq (text.parameters())) training.Weights, 1.0)
        |> Option.toList
    state, answer @ projections
let plannedSteps = Defaults.plannedSteps training data.Train.Examples.Length
let totalSteps = match config.MaxSteps with Some m -> min plannedSteps m | None -> plannedSteps
let clock = System.Diagnostics.Stopwatch.StartNew()

/// Validation accuracy per category and subtype, the oracle maps given as in training.
let evaluate () =
    use _ = torch.no_grad ()
    let source = data.Validation
    let predicted =
        [| for indices in Batching.sequentialBatches training.BatchSize source.Examples.Length do
             use _ = torch.NewDisposeScope()
             let b = LabelledBatches.batch device source indices
             let pass = passFor valOracle (indices |> Array.map (fun i -> source.Examples[i]))
             yield! (pass state.Network b.Input).Logits.argmax(-1L).data<int64>().ToArray() |> Array.map int |]
    predicted
    |> Array.mapi (fun i p ->
        let e = source.Examples[i]
        { Evaluation.Predicted = p
          Evaluation.Answer = e.Answer
          Evaluation.Category = e.Category |> Option.map Clevr.Category.name |> Option.defaultValue "(no program)"
          Evaluation.Subtype = e.LastFunction |> Option.map Clevr.LastFunction.name |> Option.defaultValue "(no program)" })
    |> List.ofArray
    |> Evaluation.breakdown (Clevr.Category.all |> List.map Clevr.Category.name) (Clevr.LastFunction.all |> List.map Clevr.LastFunction.name)

let report (step: int) =
    let b = evaluate ()
    let cells = (b.Overall :: b.ByCategory) @ b.BySubtype |> List.map (fun a -> $"{a.Name} {Evaluation.Accuracy.percent a:F2}")
    printfn "step %d (%.0fs): %s" step clock.Elapsed.TotalSeconds (String.concat ", " cells)
    b

/// One batch of Algorithm 2, as `EpochLoop` runs it (α step after the warm-up, then the weight step).
let trainOne (step: int) (indices: int[]) =
    use _ = torch.NewDisposeScope()
    let trainBatch = LabelledBatches.batch device data.Train indices
    let pass = passFor trainOracle (indices |> Array.map (fun i -> data.Train.Examples[i]))
    let lambdaW = defaultArg training.LambdaWScale 1.0 * EntropySchedule.lambda plannedSteps step
    if Steps.hasAlpha state && AlphaSchedule.takesAlphaStep training.AlphaWarmup training.HardenAt training.AlphaEvery step plannedSteps then
        let archIndices = TrainingData.architectureIndices training.Seed step training.BatchSize data.Architecture.Examples.Length
        let archBatch = LabelledBatches.batch device data.Architecture archIndices
        let archPass = passFor trainOracle (archIndices |> Array.map (fun i -> data.Architecture.Examples[i]))
        Steps.alphaStepWith archPass training state archBatch |> ignore
    let rate = training.Weights.LearningRate * TrainingSpec.LearningRateDecay.factor training.WeightLearningRateDecay step plannedSteps
    Steps.setLearningRate state.WeightOptimiser rate
    for o, factor in extraOptimisers do
        o.zero_grad ()
        Steps.setLearningRate o (rate * factor)
    let m = Steps.weightStepWith pass training lambdaW state trainBatch
    for o, _ in extraOptimisers do Steps.stepIfFinite o m |> ignore
    if not (Steps.StepMetrics.isFinite m) then fail $"loss became {m.Loss} at step {step + 1}"
    m

let evalEvery = defaultArg config.EvalEvery totalSteps
let mutable step = 0
let mutable epoch = 0
while step < totalSteps do
    for indices in Batching.batches training.Seed epoch training.BatchSize data.Train.Examples.Length do
        if step < totalSteps then
            unfreezeIfDue step
            let m = trainOne step indices
            step <- step + 1
            if step % 100 = 0 then printfn "step %d/%d (%.0fs): loss %.3f, train acc %.1f%%" step totalSteps clock.Elapsed.TotalSeconds m.Loss (100.0 * m.Accuracy)
            if step % evalEvery = 0 && step < totalSteps then report step |> ignore
    epoch <- epoch + 1
let final = report step
let row = [ final.Overall ] @ final.ByCategory |> List.map (fun a -> $"{Evaluation.Accuracy.percent a:F2}") |> String.concat " | "
printfn "| %s (%s) | %d | %s |" args[0] (OracleMaps.Footprint.name footprint) step row
genotypeOut |> Option.iter (fun file ->
    AtomicFile.writeAllText file (Genotype.toJson (AlphaReadout.genotype state.Network))
    printfn "genotype: %s" file)
