/// How evenly each question family's answers are spread: the most frequent answer's count over
/// the mean count of the answers the family gives (1.0 = perfectly even).
module Lnmn.Core.Data.Balance

open Lnmn.Core.Data.Clevr

type FamilyBalance =
    { Family: int
      Questions: int
      /// Distinct answers the family gives.
      Answers: int
      MostFrequent: string
      MostFrequentCount: int
      MeanCount: float
      /// MostFrequentCount / MeanCount.
      Ratio: float }

type Summary =
    { /// Worst (highest ratio) first.
      Families: FamilyBalance list
      Worst: FamilyBalance option
      MedianRatio: float }

/// Balance of every family that has answered questions (questions without a family or an
/// answer are left out).
let perFamily (questions: seq<Question>) : FamilyBalance list =
    questions
    |> Seq.choose (fun q -> match q.FamilyIndex, q.Answer with Some f, Some a -> Some(f, a) | _ -> None)
    |> Seq.groupBy fst
    |> Seq.map (fun (family, pairs) ->
        let counts = pairs |> Seq.countBy snd |> Seq.sortBy (fun (answer, n) -> -n, answer) |> List.ofSeq
        let total = counts |> List.sumBy snd
        let answer, top = counts.Head
        let mean = float total / float counts.Length
        { Family = family; Questions = total; Answers = counts.Length; MostFrequent = answer
          MostFrequentCount = top; MeanCount = mean; Ratio = float top / mean })
    |> Seq.sortBy (fun b -> -b.Ratio, b.Family)
    |> List.ofSeq

let private median (xs: float list) =
    match List.sort xs with
    | [] -> nan
    | sorted ->
        let n = sorted.Length
        if n % 2 = 1 then sorted[n / 2] else (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0

let summarise (questions: seq<Question>) : Summary =
    let families = perFamily questions
    { Families = families; Worst = List.tryHead families; MedianRatio = median (families |> List.map (fun b -> b.Ratio)) }

/// One line: "answer balance (max/mean per family) over 83 families: worst 1.42 (family 7,
/// 'yes' 34 of 58 questions), median 1.12".
let describe (summary: Summary) =
    match summary.Worst with
    | None -> "answer balance: no questions with a family and an answer"
    | Some w ->
        $"answer balance (max/mean per family) over {summary.Families.Length} families: worst {w.Ratio:F2} "
        + $"(family {w.Family}, '{w.MostFrequent}' {w.MostFrequentCount} of {w.Questions} questions, {w.Answers} answers), median {summary.MedianRatio:F2}"
