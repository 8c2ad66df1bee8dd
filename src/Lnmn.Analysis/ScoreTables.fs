/// Scores as tables: accuracy per category and subtype (eval.md), the op ablation (paper Table 7),
/// and the VQA accuracy per answer and question type (paper Tables 4, 9 and 10), from breakdowns
/// the caller labels (`AlphaEvaluation.label`, `evalColumn`, "without min", …).
module Lnmn.Analysis.ScoreTables

open Lnmn.Core.Training
open Lnmn.Core.Training.Evaluation

/// An evaluation's column header in eval.md: a network without α notes that its one score is
/// both the soft and the hard-max one.
let evalColumn (evaluation: AlphaEvaluation) =
    match evaluation with
    | AlphaEvaluation.NoAlpha -> AlphaEvaluation.label evaluation + " (hard-max = soft)"
    | AlphaEvaluation.Soft | AlphaEvaluation.HardMax -> AlphaEvaluation.label evaluation

let private percent (accuracy: Accuracy option) = Table.Number(accuracy |> Option.map Accuracy.percent |> Option.defaultValue nan, 2)

let private named name (list: Accuracy list) = list |> List.tryFind (fun a -> a.Name = name)

/// One column per evaluation (e.g. soft α and hard-max α), then the question count; rows overall,
/// per category, per subtype (indented).
let accuracy (columns: (string * Breakdown) list) : Table.Table =
    match columns with
    | [] -> { Columns = []; Rows = [] }
    | (_, first) :: _ ->
        let row (label: Table.Cell) (a: Accuracy) (pick: Breakdown -> Accuracy option) =
            label :: (columns |> List.map (fun (_, b) -> percent (pick b))) @ [ Table.Number(float a.Total, 0) ]
        { Columns = "question type" :: List.map fst columns @ [ "questions" ]
          Rows =
            [ yield row (Table.Bold(Table.Text "Overall")) first.Overall (fun b -> Some b.Overall)
              for c in first.ByCategory do yield row (Table.Text c.Name) c (fun b -> named c.Name b.ByCategory)
              for s in first.BySubtype do yield row (Table.Text $"  {s.Name}") s (fun b -> named s.Name b.BySubtype) ] }

/// One row per ablation, columns overall and the categories, as in paper Table 7.
let opAblation (rows: (string * Breakdown) list) : Table.Table =
    match rows with
    | [] -> { Columns = []; Rows = [] }
    | (_, first) :: _ ->
        let categories = first.ByCategory |> List.map (fun c -> c.Name)
        { Columns = "ops" :: "overall" :: categories
          Rows =
            [ for name, b in rows ->
                Table.Text name :: Table.Number(Accuracy.percent b.Overall, 2) :: [ for c in categories -> percent (named c b.ByCategory) ] ] }

let private groupCell (groups: VqaScore.Group list) (name: string) =
    Table.Number(groups |> List.tryFind (fun g -> g.Name = name) |> Option.map VqaScore.Group.percent |> Option.defaultValue nan, 2)

/// Table 4's layout: one row per evaluation (soft α, hard-max α), columns overall and each answer type.
let vqaAnswerTypes (columns: (string * VqaScore.Breakdown) list) : Table.Table =
    let types = match columns with [] -> [] | (_, b) :: _ -> b.ByAnswerType |> List.map (fun g -> g.Name)
    { Columns = "evaluation" :: "Overall" :: types
      Rows = [ for name, b in columns -> Table.Text name :: groupCell [ b.Overall ] "Overall" :: List.map (groupCell b.ByAnswerType) types ] }

/// Tables 9 and 10's layout: one row per question type, one column per evaluation, then the count.
let vqaQuestionTypes (columns: (string * VqaScore.Breakdown) list) : Table.Table =
    match columns with
    | [] -> { Columns = []; Rows = [] }
    | (_, first) :: _ ->
        { Columns = "question type" :: List.map fst columns @ [ "questions" ]
          Rows =
            [ for g in first.ByQuestionType ->
                Table.Text g.Name :: (columns |> List.map (fun (_, b) -> groupCell b.ByQuestionType g.Name)) @ [ Table.Number(float g.Total, 0) ] ] }

/// Both VQA tables under their headings, as eval.md shows them.
let vqaMarkdown (columns: (string * VqaScore.Breakdown) list) =
    let count = match columns with [] -> 0 | (_, b) :: _ -> b.Overall.Total
    $"VQA accuracy, {count} questions, per answer type:\n\n{Table.markdown (vqaAnswerTypes columns)}\n\n"
    + $"Per question type:\n\n{Table.markdown (vqaQuestionTypes columns)}\n"
