module Lnmn.Tests.DataClevrShapesTests

open System
open Expecto
open Lnmn.Core.Data
open Lnmn.Core.Data.Clevr

/// CLEVR 1.0's 90 question templates (question_generation/CLEVR_1.0_templates/*.json in
/// facebookresearch/clevr-dataset-gen), each as the tree of its template's node types, file by file
/// in the files' order. CLEVR's compound nodes stand for programs: `filter_count(x)` is
/// count(filters(x)), `relate_filter_unique(x)` is unique(filters(relate(x))), and so on; every
/// `<Z> <C> <M> <S>` filter chain may be empty, while `filter_size` and its kin (single_or) filter
/// on exactly one attribute.
let clevrTemplates =
    let query = [ "size"; "color"; "material"; "shape" ]
    [ "zero_hop",
      [ "filter_count(scene)"; "filter_exist(scene)"
        "query_shape(filter_unique(scene))"; "query_material(filter_unique(scene))"
        "query_color(filter_unique(scene))"; "query_size(filter_unique(scene))" ]
      "one_hop",
      [ "relate_filter_count(filter_unique(scene))"; "relate_filter_exist(filter_unique(scene))"
        "query_size(relate_filter_unique(filter_unique(scene)))"; "query_color(relate_filter_unique(filter_unique(scene)))"
        "query_material(relate_filter_unique(filter_unique(scene)))"; "query_shape(relate_filter_unique(filter_unique(scene)))" ]
      "two_hop",
      [ "relate_filter_count(relate_filter_unique(filter_unique(scene)))"
        "relate_filter_exist(relate_filter_unique(filter_unique(scene)))"
        "query_size(relate_filter_unique(relate_filter_unique(filter_unique(scene))))"
        "query_color(relate_filter_unique(relate_filter_unique(filter_unique(scene))))"
        "query_material(relate_filter_unique(relate_filter_unique(filter_unique(scene))))"
        "query_shape(relate_filter_unique(relate_filter_unique(filter_unique(scene))))" ]
      "three_hop",
      [ "relate_filter_count(relate_filter_unique(relate_filter_unique(filter_unique(scene))))"
        "relate_filter_exist(relate_filter_unique(relate_filter_unique(filter_unique(scene))))"
        "query_size(relate_filter_unique(relate_filter_unique(relate_filter_unique(filter_unique(scene)))))"
        "query_shape(relate_filter_unique(relate_filter_unique(relate_filter_unique(filter_unique(scene)))))"
        "query_color(relate_filter_unique(relate_filter_unique(relate_filter_unique(filter_unique(scene)))))"
        "query_material(relate_filter_unique(relate_filter_unique(relate_filter_unique(filter_unique(scene)))))" ]
      "single_and",
      [ "filter_count(intersect(relate(filter_unique(scene)), relate(filter_unique(scene))))"
        "query_size(filter_unique(intersect(relate(filter_unique(scene)), relate(filter_unique(scene)))))"
        "query_color(filter_unique(intersect(relate(filter_unique(scene)), relate(filter_unique(scene)))))"
        "query_material(filter_unique(intersect(relate(filter_unique(scene)), relate(filter_unique(scene)))))"
        "query_shape(filter_unique(intersect(relate(filter_unique(scene)), relate(filter_unique(scene)))))" ]
      "single_or",
      [ "count(union(filter(scene), filter(scene)))"
        "count(filter_size(union(filter(scene), filter(scene))))"
        "count(filter_color(union(filter(scene), filter(scene))))"
        "count(union(relate_filter(filter_unique(scene)), relate_filter(filter_unique(scene))))"
        "count(filter_material(union(filter(scene), filter(scene))))"
        "count(filter_shape(union(filter(scene), filter(scene))))"
        "count(union(relate_filter(filter_unique(scene)), filter(scene)))"
        "count(union(filter(scene), relate_filter(filter_unique(scene))))" ]
      "same_relate",
      [ for a in query -> $"exist(same_{a}(filter_unique(scene)))" ]
      @ [ for a in query -> $"count(same_{a}(filter_unique(scene)))" ]
      @ [ for a in query -> $"filter_exist(same_{a}(filter_unique(scene)))" ]
      @ [ for a in query -> $"filter_count(same_{a}(filter_unique(scene)))" ]
      @ [ for a in query do
            for q in query do
                if q <> a then yield $"query_{q}(filter_unique(same_{a}(filter_unique(scene))))" ]
      "comparison",
      [ for a in query -> $"equal_{a}(query_{a}(filter_unique(scene)), query_{a}(filter_unique(scene)))" ]
      @ [ for a in query do
            let plain, related = $"query_{a}(filter_unique(scene))", $"query_{a}(relate_filter_unique(filter_unique(scene)))"
            yield! [ $"equal_{a}({related}, {plain})"; $"equal_{a}({plain}, {related})"; $"equal_{a}({related}, {related})" ] ]
      "compare_integer",
      [ for x, y in [ "filter_count(scene)", "filter_count(scene)"
                      "relate_filter_count(filter_unique(scene))", "filter_count(scene)"
                      "relate_filter_count(filter_unique(scene))", "relate_filter_count(filter_unique(scene))" ] do
            for f in [ "equal_integer"; "less_than"; "greater_than" ] -> $"{f}({x}, {y})" ] ]

type private Tree = Node of string * Tree list

/// Parses "f(a, g(b))".
let private parse (text: string) =
    let rec node (i: int) =
        let name = String(text.Substring i |> Seq.takeWhile (fun c -> Char.IsLetter c || c = '_') |> Array.ofSeq)
        let j = i + name.Length
        if j < text.Length && text[j] = '(' then
            let rec args k acc =
                let child, next = node k
                match text[next] with
                | ',' -> args (next + 2) (child :: acc)
                | _ -> List.rev (child :: acc), next + 1
            let children, next = args (j + 1) []
            Node(name, children), next
        else Node(name, []), j
    fst (node 0)

/// The shape a program is compared by: function names without their values; every filter chain
/// dropped (CLEVR's may be empty) except one on a union, which single_or's filtered counts need;
/// the operands of union and intersect sorted, as the sets do not depend on their order.
let private render name (args: string list) =
    let args = if name = "union" || name = "intersect" then List.sort args else args
    if args.IsEmpty then name else $"""{name}({String.Join(", ", args)})"""

/// A CLEVR template's node tree as the program it stands for, by shape.
let rec private expand (Node(name, children)) =
    let inner () = expand children.Head
    match name with
    | "filter" -> inner ()
    | "filter_count" | "filter_exist" | "filter_unique" -> render (name.Substring 7) [ inner () ]
    | "relate_filter" -> render "relate" [ inner () ]
    | "relate_filter_count" | "relate_filter_exist" | "relate_filter_unique" -> render (name.Substring 14) [ render "relate" [ inner () ] ]
    | _ -> render name (List.map expand children)

/// A generated program (its last step is the answer) by the same shape.
let programShape (program: ProgramStep list) =
    let steps = Array.ofList program
    let rec shape i =
        match steps[i].Function with
        | Filter _ ->
            let rec chain j names =
                match steps[j].Function with
                | Filter _ -> chain steps[j].Inputs.Head (Function.name steps[j].Function :: names)
                | _ -> j, List.rev names
            let below, names = chain i []
            if steps[below].Function = Union then List.foldBack (fun f inner -> render f [ inner ]) names (shape below) else shape below
        | f -> render (Function.name f) (steps[i].Inputs |> List.map shape)
    shape (steps.Length - 1)

/// The shapes one family's programs take on random scenes.
let private familyShapes (family: Templates.Family) =
    let rng = Random(family.Index + 1)
    let options = BuiltInOptions.defaults
    Seq.initInfinite id
    |> Seq.choose (fun i -> SceneGen.generate options rng "train" i)
    |> Seq.choose (fun scene -> Templates.sample family rng true scene)
    |> Seq.truncate 8
    |> Seq.map (fst >> programShape)
    |> Set.ofSeq

[<Tests>]
let tests =
    testList "CLEVR's families" [
        test "CLEVR's 90 templates are 81 program shapes, and the generator's 81 families are those 81, one family each" {
            Expect.equal (clevrTemplates |> List.sumBy (snd >> List.length)) 90 "CLEVR 1.0 has 90 templates"
            Expect.equal (clevrTemplates |> List.map (fun (g, ts) -> g, ts.Length))
                [ "zero_hop", 6; "one_hop", 6; "two_hop", 6; "three_hop", 6; "single_and", 5; "single_or", 8; "same_relate", 28; "comparison", 16; "compare_integer", 9 ]
                "per template file"
            let clevr = clevrTemplates |> List.collect (fun (g, ts) -> ts |> List.map (fun t -> g, expand (parse t)))
            // 90 → 81: in same_relate, `exist(same_X(…))` and `filter_exist(same_X(…))` (and the
            // counts) differ only in an optional filter chain, which the generator draws as part of
            // one family (8 templates); single_or's union of a related set and a set comes in both
            // orders (1 template).
            let shapes = clevr |> List.map snd |> Set.ofList
            Expect.equal shapes.Count 81 "81 distinct shapes"
            let folded group =
                let inGroup = clevr |> List.filter (fst >> (=) group) |> List.map snd
                inGroup.Length - (List.distinct inGroup).Length
            Expect.equal (folded "same_relate", folded "single_or") (8, 1) "what folds"
            let generated = Templates.all |> List.map (fun f -> f, familyShapes f)
            for f, s in generated do
                Expect.equal s.Count 1 $"{f.Name} makes one program shape: {s}"
            let byFamily = generated |> List.map (fun (f, s) -> f.Name, Set.minElement s)
            Expect.equal Templates.all.Length 81 "81 families"
            Expect.equal (byFamily |> List.map snd |> List.distinct).Length 81 "no two families share a shape"
            let mine = byFamily |> List.map snd |> Set.ofList
            Expect.isEmpty (Set.difference mine shapes) "no shape that CLEVR lacks"
            Expect.isEmpty (Set.difference shapes mine) "no CLEVR shape missing"
        }

        test "the issue's shapes: none of the three programs CLEVR lacks, and single_or's count(union(relate(unique(scene)), scene))" {
            let mine = Templates.all |> List.collect (familyShapes >> Set.toList) |> Set.ofList
            for absent in [ "exist(intersect(relate(unique(scene)), relate(unique(scene))))"
                            "exist(union(relate(unique(scene)), relate(unique(scene))))"
                            "exist(union(scene, scene))" ] do
                Expect.isFalse (mine.Contains absent) absent
            Expect.isTrue (mine.Contains(render "count" [ render "union" [ "relate(unique(scene))"; "scene" ] ])) "the related set or a set"
        }
    ]
