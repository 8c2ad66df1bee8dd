module Lnmn.Tests.DataFamilyTests

open Expecto
open Lnmn.Core.Data
open Lnmn.Core.Data.Clevr
open Lnmn.Core.Data.Scenes

let private familyOf (q: Question) = Templates.all |> List.find (fun f -> f.Index = q.FamilyIndex.Value)

let private trainQuestionsAndScenes () =
    let dir = DataGenerationTests.generated.Force()
    ClevrJson.readScenes (DatasetLayout.scenesFile dir "train") |> Array.ofSeq,
    ClevrJson.readQuestions (DatasetLayout.questionsFile dir "train") |> Array.ofSeq

/// The object a step ending in `unique` picks, run on its own.
let private uniqueObject (scene: Scene) (program: ProgramStep list) (step: int) =
    match execute scene (List.truncate (step + 1) program) with
    | Ok(Object o) -> o
    | other -> failtestf "step %d is not one object: %A" step other

/// The attributes of the filters that feed a `unique` step directly.
let private describedBy (program: ProgramStep list) (uniqueStep: int) =
    let rec down step =
        match program[step].Function with
        | Filter(a, _) -> a :: down program[step].Inputs.Head
        | _ -> []
    down program[uniqueStep].Inputs.Head

let familyTests =
    testList "question families" [
        test "81 families with distinct names; per group as CLEVR's counts where we have them" {
            let names = Templates.all |> List.map (fun f -> f.Name)
            Expect.equal (List.distinct names).Length names.Length "distinct names"
            Expect.equal (Templates.all |> List.map (fun f -> f.Index)) [ 0 .. Templates.all.Length - 1 ] "indices in order"
            let count g = Templates.all |> List.filter (fun f -> f.Group = g) |> List.length
            Expect.equal (count Comparison, count CompareInteger) (16, 9) "comparison: 4 attributes × 4 hop patterns; integer: 3 × 3"
            Expect.equal (count SingleAnd) 5 "and: count and the four queries, as CLEVR (no exist)"
            Expect.equal (count SingleOr) 7 "or: counts only, as CLEVR: two sets, two relations, a relation and a set, filtered by each attribute"
            Expect.equal Templates.all.Length 81 "all"
            Expect.equal (Templates.all |> List.take 6 |> List.map (fun f -> f.Name)) [ "zero_hop_count"; "zero_hop_exist"; "zero_hop_query_color"; "zero_hop_query_shape"; "zero_hop_query_size"; "zero_hop_query_material" ] "earlier indices unchanged"
        }
        test "comparison questions compare two different objects on an attribute neither one's description names" {
            let scenes, questions = trainQuestionsAndScenes ()
            let compared = questions |> Array.filter (fun q -> (familyOf q).Group = Comparison)
            Expect.isGreaterThan compared.Length 50 "enough comparison questions"
            for q in compared do
                let program = q.Program.Value
                let last = List.last program
                let a = match last.Function with EqualAttribute a -> a | f -> failtestf "ends in %A" f
                let uniqueBelow query = program[query].Inputs.Head
                let ox, oy = uniqueObject scenes[q.ImageIndex] program (uniqueBelow last.Inputs[0]), uniqueObject scenes[q.ImageIndex] program (uniqueBelow last.Inputs[1])
                Expect.notEqual ox oy q.Text
                for query in last.Inputs do
                    Expect.isFalse (describedBy program (uniqueBelow query) |> List.contains a) $"{Attribute.name a} not in the description: {q.Text}"
            let hopPatterns = compared |> Array.map (fun q -> (familyOf q).Name.Split('_')[2]) |> Array.distinct |> Array.sort
            Expect.equal hopPatterns [| "01hop"; "0hop"; "11hop"; "1hop" |] "all four hop patterns appear"
        }
        test "single_or filtered counts: union of two different sets, then one filter on an attribute the sets do not name" {
            let scenes, questions = trainQuestionsAndScenes ()
            let filtered = questions |> Array.filter (fun q -> (familyOf q).Name.StartsWith "single_or_filter_")
            Expect.isGreaterThan filtered.Length 10 "enough questions"
            for q in filtered do
                let program = Array.ofList q.Program.Value
                let n = program.Length
                Expect.equal program[n - 1].Function Function.Count q.Text
                let a = match program[n - 2].Function with Filter(a, _) -> a | f -> failtestf "%A before count" f
                Expect.equal program[n - 3].Function Union q.Text
                let before = program[.. n - 4]
                Expect.isFalse (before |> Array.exists (fun s -> match s.Function with Filter(b, _) -> b = a | _ -> false)) q.Text
                let setAt i = match execute scenes[q.ImageIndex] (List.ofArray program[.. i]) with Ok(Objects s) -> s | v -> failtestf "%A" v
                let u = program[n - 3].Inputs
                Expect.notEqual (setAt u[0]) (setAt u[1]) q.Text
        }
    ]
