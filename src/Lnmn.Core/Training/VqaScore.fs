/// The official VQA accuracy, overall, per answer type (paper Table 4 with its answer types) and per
/// question type (appendix Tables 9 and 10).
module Lnmn.Core.Training.VqaScore

/// The accuracy of `predicted` against the human answers (ids, −1 outside the vocabulary): for each
/// human left out in turn, min(1, matches among the others / 3); then the mean over the humans.
/// Given by 2 of 10 humans: 8 subsets hold both (2/3) and 2 hold one (1/3), so (8·2/3 + 2·1/3)/10 = 0.6.
let accuracy (humanAnswers: int[]) (predicted: int) =
    if humanAnswers.Length = 0 then nan
    else
        let matches = humanAnswers |> Array.sumBy (fun a -> if a = predicted && a >= 0 then 1 else 0)
        humanAnswers
        |> Array.averageBy (fun left -> min 1.0 (float (matches - (if left = predicted && left >= 0 then 1 else 0)) / 3.0))

/// One scored question.
type Scored = { Score: float; AnswerType: string; QuestionType: string }

/// The summed accuracy of a group of questions.
type Group = { Name: string; ScoreSum: float; Total: int }

module Group =
    let percent (g: Group) = if g.Total = 0 then nan else 100.0 * g.ScoreSum / float g.Total

type Breakdown =
    { Overall: Group
      ByAnswerType: Group list
      ByQuestionType: Group list }

/// The answer types of the annotation files, in the order the VQA papers print them.
let answerTypes = [ "yes/no"; "number"; "other" ]

let private groupOf name (scored: Scored list) = { Name = name; ScoreSum = scored |> List.sumBy (fun s -> s.Score); Total = scored.Length }

let breakdown (scored: Scored list) =
    let grouped key order = Evaluation.groupInOrder key order scored |> List.map (fun (name, g) -> groupOf name g)
    { Overall = groupOf "Overall" scored
      ByAnswerType = grouped (fun s -> s.AnswerType) answerTypes
      ByQuestionType = grouped (fun s -> s.QuestionType) [] }
