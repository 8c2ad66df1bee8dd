/// The grounding measure on a hand-built scene: which objects a program's opening filters select,
/// where they sit on the map, and how much of a map's softmax mass falls on them.
module Lnmn.Tests.GroundingTests

open Expecto
open Lnmn.Core.Data.Clevr
open Lnmn.Core.Data.Scenes
open Lnmn.Analysis

let private objectAt shape color size x y =
    { Shape = shape; Color = color; Size = size; Material = "rubber"; Coords = [| x; y; 0.5 |]; PixelCoords = [||]; Rotation = 0.0 }

// On a 4×4 grid over [-3, 3]², cell centres are at −2.25, −0.75, 0.75, 2.25.
let private scene =
    let objects =
        [| objectAt "cube" "red" "large" -2.25 -2.25      // row 0, column 0
           objectAt "sphere" "red" "small" 0.75 2.25      // row 3, column 2
           objectAt "cylinder" "blue" "small" 2.25 -0.75 |] // row 1, column 3
    { ImageIndex = 0; ImageFilename = "x.png"; Split = "val"; Objects = objects; Relationships = relationships 0.2 objects }

let private step f inputs = { Function = f; Inputs = inputs }

[<Tests>]
let tests =
    testList "grounding" [
        test "the opening filters select the red things; a relate ends the chain" {
            let program = [ step Scene []; step (Filter(Color, "red")) [ 0 ]; step Function.Count [ 1 ] ]
            Expect.equal (Grounding.firstFilterTargets scene program) (Some(set [ 0; 1 ])) "red"
            let twoFilters = [ step Scene []; step (Filter(Color, "red")) [ 0 ]; step (Filter(Size, "small")) [ 1 ]; step Unique [ 2 ]; step (Relate Left) [ 3 ]; step (Filter(Shape, "cube")) [ 4 ] ]
            Expect.equal (Grounding.firstFilterTargets scene twoFilters) (Some(set [ 1 ])) "small red; the filter after relate is not part of it"
            let unchained = [ step Scene []; step (Filter(Size, "small")) [ 0 ]; step (Filter(Color, "red")) [ 0 ]; step Intersect [ 1; 2 ] ]
            Expect.equal (Grounding.firstFilterTargets scene unchained) (Some(set [ 1; 2 ])) "a filter on scene again ends the chain: the small things"
        }
        test "no opening filter, nothing selected or everything selected: nothing to measure" {
            Expect.isNone (Grounding.firstFilterTargets scene [ step Scene []; step Function.Count [ 0 ] ]) "count(scene)"
            Expect.isNone (Grounding.firstFilterTargets scene [ step Scene []; step (Filter(Color, "green")) [ 0 ]; step Function.Exist [ 1 ] ]) "no green"
            Expect.isNone (Grounding.firstFilterTargets scene [ step Scene []; step (Filter(Material, "rubber")) [ 0 ]; step Function.Count [ 1 ] ]) "every object is rubber"
        }
        test "cells are (row, column) under the object centres" {
            Expect.equal (Grounding.cells 4 scene (set [ 0; 1; 2 ])) (set [ 0, 0; 3, 2; 1, 3 ]) "cells"
        }
        test "softmax mass: a uniform map puts 2/16 on two cells; a peaked map nearly all" {
            let targets = set [ 0, 0; 3, 2 ]
            Expect.floatClose Accuracy.veryHigh (Grounding.massOn 4 (Array.zeroCreate 16) targets) (2.0 / 16.0) "uniform"
            // logit ln 3 on both target cells: 3 + 3 over 3 + 3 + 14
            let peaked = Array.init 16 (fun i -> if i = 0 || i = 14 then log 3.0 else 0.0)
            Expect.floatClose Accuracy.veryHigh (Grounding.massOn 4 peaked targets) (6.0 / 20.0) "ln 3 on the targets"
        }
        test "summary: per-step means and the chance level" {
            match Grounding.summarise [ [ 0.5; 1.0 ], 0.25; [ 0.25; 0.0 ], 0.125 ] with
            | Some s ->
                Expect.equal s.Questions 2 "questions"
                Expect.equal s.PerStep [ 0.375; 0.5 ] "per step"
                Expect.equal s.Chance 0.1875 "chance"
            | None -> failtest "two questions summarise to something"
            Expect.isNone (Grounding.summarise []) "no question, no summary"
        }
    ]
