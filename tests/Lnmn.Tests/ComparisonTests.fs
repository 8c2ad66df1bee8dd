/// The baselines comparison's tables and CSV, from breakdowns with known counts.
module Lnmn.Tests.ComparisonTests

open Expecto
open Lnmn.Core.Training
open Lnmn.Analysis.ComparisonReport

let private accuracy name correct total : Evaluation.Accuracy = { Name = name; Correct = correct; Total = total }

/// Overall 30/40; count 1/4, exist 3/4, query_attribute 26/32; no compare questions.
let private breakdown: Evaluation.Breakdown =
    { Overall = accuracy "Overall" 30 40
      ByCategory = [ accuracy "query_attribute" 26 32; accuracy "count" 1 4; accuracy "exist" 3 4 ]
      BySubtype = [] }

[<Tests>]
let tests =
    testList "comparison" [
        test "Result.traverse keeps the order and stops at the first Error, trying nothing after it (compare trains no later model)" {
            let tried = System.Collections.Generic.List<int>()
            let half x = tried.Add x; if x % 2 = 0 then Ok(x / 2) else Error $"{x} is odd"
            Expect.equal (Lnmn.Core.ResultBuilder.Result.traverse half [ 2; 8; 4 ]) (Ok [ 1; 4; 2 ]) "all even: in order"
            tried.Clear()
            Expect.equal (Lnmn.Core.ResultBuilder.Result.traverse half [ 2; 3; 4; 5 ]) (Error "3 is odd") "the first Error"
            Expect.equal (List.ofSeq tried) [ 2; 3 ] "nothing tried after it"
        }
        test "percentages follow the paper's column order, NaN for a category without questions" {
            let p = percentages breakdown
            Expect.equal (p |> List.map (fun x -> if System.Double.IsNaN x then -1.0 else x)) [ 75.0; 25.0; 75.0; -1.0; 81.25; -1.0 ] "overall, count, exist, compare numbers, query, compare attribute"
        }
        test "a Markdown row and a CSV line per scored evaluation" {
            let table = markdownTable [ "LNMN (9 modules)", percentages breakdown ]
            Expect.stringContains table "| LNMN (9 modules) | 75.00 | 25.00 | 75.00 | – | 81.25 | – |" "row"
            let scored = { Model = "lnmn-9"; Label = "LNMN (9 modules), soft"; Evaluation = Evaluation.AlphaEvaluation.Soft; Breakdown = breakdown; WeightSteps = 25; Seconds = 12.34 }
            let lines = (csv [ scored ]).TrimEnd().Split '\n'
            Expect.equal lines.[0] "model,label,evaluation,overall,count,exist,compare_numbers,query_attribute,compare_attribute,questions,weight_steps,seconds" "header"
            Expect.equal lines.[1] "lnmn-9,\"LNMN (9 modules), soft\",soft α,75.0000,25.0000,75.0000,,81.2500,,40,25,12.3" "quoted label, empty cells for NaN"
        }
        test "the hard-max table lists models with α only, the change signed; the budget lists every model" {
            let scored evaluation overall =
                { Model = "m"; Label = "LNMN (9 modules)"; Evaluation = evaluation; Breakdown = { breakdown with Overall = overall }
                  WeightSteps = 25; Seconds = 90.0 }
            let models =
                [ "stack-nmn", [ { scored Evaluation.AlphaEvaluation.NoAlpha (accuracy "Overall" 1 2) with Label = "Stack-NMN"; WeightSteps = 30; Seconds = 12.0 } ]
                  "lnmn-9", [ scored Evaluation.AlphaEvaluation.Soft (accuracy "Overall" 30 40); scored Evaluation.AlphaEvaluation.HardMax (accuracy "Overall" 29 40) ] ]
            Expect.equal (hardMaxTable models)
                "| Model | soft α | hard-max α | change |\n| --- | ---: | ---: | ---: |\n| LNMN (9 modules) (lnmn-9) | 75.00 | 72.50 | -2.50 |"
                "hard-max table"
            Expect.equal (budgetTable models)
                "| model | weight steps | minutes |\n| --- | ---: | ---: |\n| stack-nmn | 30 | 0.2 |\n| lnmn-9 | 25 | 1.5 |"
                "budget table"
        }
        test "Table 2's narrower map: 256 at the paper's 384" {
            Expect.equal (Lnmn.Train.Comparison.narrower 384) 256 "two thirds"
        }
    ]
