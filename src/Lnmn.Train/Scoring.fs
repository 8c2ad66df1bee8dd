/// Scores a network on a split: accuracy overall, per category and per last-function subtype,
/// with soft or hard-max α.
module Lnmn.Train.Scoring

open System
open TorchSharp
open Lnmn.Core
open Lnmn.Core.Data
open Lnmn.Core.Network
open Lnmn.Core.Training
open Lnmn.Core.Data.Batching
open Lnmn.Core.Training.LabelledBatches

let private categoryNames = Clevr.Category.all |> List.map Clevr.Category.name
let private subtypeNames = Clevr.LastFunction.all |> List.map Clevr.LastFunction.name

/// The predicted answer id of every example, in order.
let predict (device: torch.Device) (network: LnmnNetwork.LnmnNetwork) (evaluation: NodeOps.NodeEvaluation) (batchSize: int) (source: Split) : int[] =
    use _ = torch.no_grad ()
    [| for indices in Batching.sequentialBatches batchSize source.Examples.Length do
         use _ = torch.NewDisposeScope()
         let b = batch device source indices
         yield! network.Forward(b.Input, evaluation).Logits.argmax(-1L).cpu().data<int64>().ToArray() |> Array.map int |]

let score (device: torch.Device) (network: LnmnNetwork.LnmnNetwork) (evaluation: NodeOps.NodeEvaluation) (batchSize: int) (source: Split) =
    let scored =
        predict device network evaluation batchSize source
        |> Array.mapi (fun i p ->
            let e = source.Examples.[i]
            { Evaluation.Predicted = p
              Evaluation.Answer = e.Answer
              Evaluation.Category = e.Category |> Option.map Clevr.Category.name |> Option.defaultValue "(no program)"
              Evaluation.Subtype = e.LastFunction |> Option.map Clevr.LastFunction.name |> Option.defaultValue "(no program)" })
        |> List.ofArray
    Evaluation.breakdown categoryNames subtypeNames scored

/// The official VQA accuracy of a split with annotations, overall, per answer and question type.
let vqaScore device network evaluation batchSize (source: Split) : VqaScore.Breakdown =
    predict device network evaluation batchSize source
    |> Array.mapi (fun i p ->
        let v = source.Examples[i].Vqa.Value
        { VqaScore.Score = VqaScore.accuracy v.HumanAnswers p; VqaScore.AnswerType = v.AnswerType; VqaScore.QuestionType = v.QuestionType })
    |> List.ofArray
    |> VqaScore.breakdown

/// Overall accuracy (%) with soft α: the VQA accuracy on VQA, the share of right answers otherwise.
let overallPercent device network batchSize (source: Split) =
    if isVqa source then VqaScore.Group.percent (vqaScore device network NodeOps.NodeEvaluation.soft batchSize source).Overall
    else Evaluation.Accuracy.percent (score device network NodeOps.NodeEvaluation.soft batchSize source).Overall

/// `scoreWith` under each evaluation the network has: soft and hard-max α, or once without α.
let private byAlphaEvaluation (network: LnmnNetwork.LnmnNetwork) (scoreWith: NodeOps.NodeEvaluation -> 'B) =
    Evaluation.AlphaEvaluation.ofNetwork (Lnmn.Core.Specs.ModelSpec.hasAlpha network.Spec)
    |> List.map (fun e -> e, scoreWith (Evaluation.AlphaEvaluation.nodeEvaluation e))

/// The breakdowns under soft and hard-max α; a network without α is scored once.
let softAndHardMax device (network: LnmnNetwork.LnmnNetwork) batchSize source =
    byAlphaEvaluation network (fun evaluation -> score device network evaluation batchSize source)

/// VQA breakdowns under soft and hard-max α; a network without α is scored once.
let vqaSoftAndHardMax device (network: LnmnNetwork.LnmnNetwork) batchSize (source: Split) =
    byAlphaEvaluation network (fun evaluation -> vqaScore device network evaluation batchSize source)

/// The scores eval.md and eval.json show for a split, typed: CLEVR's by category and subtype, or
/// VQA's by answer and question type, each with soft and hard-max α; and eval.md's tables.
let evaluation device (network: LnmnNetwork.LnmnNetwork) batchSize (source: Split) : string * RunResult.Scores =
    let labelled columns = columns |> List.map (fun (e, b) -> Lnmn.Analysis.ScoreTables.evalColumn e, b)
    let evaluated columns = columns |> List.map (fun (e, b) -> { RunResult.Evaluation = e; RunResult.Breakdown = b })
    if isVqa source then
        let columns = vqaSoftAndHardMax device network batchSize source
        Lnmn.Analysis.ScoreTables.vqaMarkdown (labelled columns), RunResult.Vqa(evaluated columns)
    else
        let columns = softAndHardMax device network batchSize source
        Lnmn.Analysis.Table.markdown (Lnmn.Analysis.ScoreTables.accuracy (labelled columns)), RunResult.Categories(evaluated columns)

/// eval.json's text: the soft-α and the hard-max-α breakdown (a network without α: its one breakdown as both).
let evalJson (scores: RunResult.Scores) =
    let softAndHard (columns: RunResult.Evaluated<'B> list) = SpecJson.serialize {| Soft = (List.head columns).Breakdown; HardMax = (List.last columns).Breakdown |}
    match scores with
    | RunResult.Categories columns -> softAndHard columns
    | RunResult.Vqa columns -> softAndHard columns

/// One entry of the official VQA results format, its fields in the format's order.
type VqaResult = { question_id: int; answer: string }

/// Predictions in the official VQA results format, [{"question_id", "answer"}], with soft α.
let vqaResults device network batchSize (source: Split) (answers: string[]) =
    predict device network NodeOps.NodeEvaluation.soft batchSize source
    |> Array.mapi (fun i p -> { question_id = source.Examples[i].Vqa.Value.QuestionId; answer = answers[p] })
    |> fun results -> Text.Json.JsonSerializer.Serialize results

/// Paper Table 7: each op removed from every node (softmax renormalised over the other five), then
/// the split scored again; the first row is the model as trained.
let opAblation device network batchSize source =
    let row name disabled = name, score device network { NodeOps.NodeEvaluation.soft with DisabledOps = disabled } batchSize source
    row "original model" [] :: [ for op in Lnmn.Core.Specs.NodeOp.all -> row $"without {Lnmn.Core.Specs.NodeOp.name op}" [ op ] ]

/// Grounding (`Lnmn.Analysis.Grounding`) on a split of a dataset directory that has scenes and
/// programs; None when it has neither or no question opens with a filter.
let grounding device (network: LnmnNetwork.LnmnNetwork) batchSize (source: Split) (dataDir: string) (split: string) =
    let scenesPath = DatasetLayout.scenesFile dataDir split
    if not (IO.File.Exists scenesPath && IO.File.Exists(DatasetLayout.questionsFile dataDir split)) then None
    else
        let scenes = ClevrJson.readScenes scenesPath |> Seq.map (fun s -> s.ImageIndex, s) |> dict
        let programs =
            ClevrJson.readQuestions (DatasetLayout.questionsFile dataDir split)
            |> Seq.choose (fun q -> q.Program |> Option.map (fun p -> q.Index, p))
            |> dict
        let gridSize = network.Spec.Dims.GridWidth
        use _ = torch.no_grad ()
        [ for indices in Batching.sequentialBatches batchSize source.Examples.Length do
            use _ = torch.NewDisposeScope()
            let maps = network.Forward((batch device source indices).Input, NodeOps.NodeEvaluation.soft).AttentionMaps
            let steps, cellCount = maps.shape.[1], maps.shape.[2] * maps.shape.[3]
            let values = maps.cpu().to_type(torch.float64).contiguous().data<float>().ToArray()
            for b, i in Array.indexed indices do
                let e = source.Examples.[i]
                match scenes.TryGetValue e.ImageIndex, programs.TryGetValue e.QuestionIndex with
                | (true, scene), (true, program) ->
                    match Lnmn.Analysis.Grounding.firstFilterTargets scene program with
                    | Some objects ->
                        let targets = Lnmn.Analysis.Grounding.cells gridSize scene objects
                        let map t = Array.sub values (int ((int64 b * steps + int64 t) * cellCount)) (int cellCount)
                        yield [ for t in 0 .. int steps - 1 -> Lnmn.Analysis.Grounding.massOn gridSize (map t) targets ],
                              float targets.Count / float cellCount
                    | None -> ()
                | _ -> () ]
        |> Lnmn.Analysis.Grounding.summarise
