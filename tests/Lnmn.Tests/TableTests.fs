/// The one table writer (Markdown and CSV), the score tables built on it and the evaluations'
/// labels, against whole expected texts written by hand.
module Lnmn.Tests.TableTests

open Expecto
open Lnmn.Core.Training
open Lnmn.Core.Training.Evaluation
open Lnmn.Analysis

let private accuracy name correct total : Accuracy = { Name = name; Correct = correct; Total = total }

[<Tests>]
let tests =
    testList "tables" [
        test "Markdown: numeric columns right-aligned by the first row, bars in text escaped, numbers rounded" {
            let table: Table.Table =
                { Columns = [ "name"; "value"; "change"; "questions" ]
                  Rows =
                    [ [ Table.Text "a | b"; Table.Bold(Table.Number(12.3456, 2)); Table.Change(0.5, 2); Table.Count 450000.0 ]
                      [ Table.Code "min(x, y)"; Table.Number(nan, 1); Table.Change(-1.26, 1); Table.Count 12.0 ] ] }
            let expected =
                "| name | value | change | questions |\n"
                + "| --- | ---: | ---: | ---: |\n"
                + "| a \\| b | **12.35** | +0.50 | 450,000 |\n"
                + "| `min(x, y)` | – | -1.3 | 12 |"
            Expect.equal (Table.markdown table) expected "whole table, no final line break"
        }

        test "Markdown without rows: the header and left-aligned columns" {
            Expect.equal (Table.markdown (Table.ofText [ "a"; "b" ] [])) "| a | b |\n| --- | --- |" "header only"
        }

        test "text cells (a benchmark's) are left-aligned and escaped like any text" {
            let table = Table.ofText [ "pass"; "s" ] [ [ "fused"; "0.12" ]; [ "x|y"; "—" ] ]
            Expect.equal (Table.markdown table) "| pass | s |\n| --- | --- |\n| fused | 0.12 |\n| x\\|y | — |" "text"
        }

        test "CSV: fields with a comma, quote or line break quoted, quotes doubled; numbers exact; a missing number empty" {
            let table: Table.Table =
                { Columns = [ "name"; "a,b" ]
                  Rows =
                    [ [ Table.Text "x, y"; Table.Number(0.1, 0) ]
                      [ Table.Text "say \"hi\""; Table.Number(nan, 2) ]
                      [ Table.Text "two\nlines"; Table.Bold(Table.Scientific 1234.5) ]
                      [ Table.Code "a|b"; Table.Change(-0.125, 1) ] ] }
            let expected = "name,\"a,b\"\n\"x, y\",0.1\n\"say \"\"hi\"\"\",\n\"two\nlines\",1234.5\na|b,-0.125\n"
            Expect.equal (Table.csv table) expected "whole file, every line ended"
        }

        test "the evaluations' labels, and which a network has" {
            Expect.equal
                ([ AlphaEvaluation.Soft; AlphaEvaluation.HardMax; AlphaEvaluation.NoAlpha ] |> List.map AlphaEvaluation.label)
                [ "soft α"; "hard-max α"; "no α" ] "labels"
            Expect.equal (AlphaEvaluation.ofNetwork true) [ AlphaEvaluation.Soft; AlphaEvaluation.HardMax ] "with α"
            Expect.equal (AlphaEvaluation.ofNetwork false) [ AlphaEvaluation.NoAlpha ] "without α"
            Expect.equal (ScoreTables.evalColumn AlphaEvaluation.NoAlpha) "no α (hard-max = soft)" "eval.md's column"
        }

        test "eval.md's accuracy table: overall in bold, categories, subtypes indented, the first column's counts" {
            let soft: Breakdown =
                { Overall = accuracy "Overall" 3 4
                  ByCategory = [ accuracy "Count" 1 2; accuracy "Exist" 2 2 ]
                  BySubtype = [ accuracy "count" 1 2 ] }
            let hard = { soft with Overall = accuracy "Overall" 1 4; ByCategory = [ accuracy "Count" 1 2 ]; BySubtype = [] }
            let expected =
                "| question type | soft α | hard-max α | questions |\n"
                + "| --- | ---: | ---: | ---: |\n"
                + "| **Overall** | 75.00 | 25.00 | 4 |\n"
                + "| Count | 50.00 | 50.00 | 2 |\n"
                + "| Exist | 100.00 | – | 2 |\n"
                + "|   count | 50.00 | – | 2 |"
            Expect.equal (Table.markdown (ScoreTables.accuracy [ "soft α", soft; "hard-max α", hard ])) expected "whole table"
        }
    ]
