module Lnmn.Tests.DataTests

open System
open System.IO
open Expecto
open Lnmn.Core.Data
open Lnmn.Core.Data.Clevr
open Lnmn.Core.Data.Scenes

let private obj shape color size material x y =
    { Shape = shape; Color = color; Size = size; Material = material; Coords = [| x; y; 0.5 |]; PixelCoords = [||]; Rotation = 0.0 }

/// o0 large red metal cube at (−2, 0); o1 small blue rubber sphere at (0, 1);
/// o2 large blue rubber cylinder at (2, −1). Front is +y.
let handScene =
    let objects = [| obj "cube" "red" "large" "metal" -2.0 0.0; obj "sphere" "blue" "small" "rubber" 0.0 1.0; obj "cylinder" "blue" "large" "rubber" 2.0 -1.0 |]
    { ImageIndex = 0; ImageFilename = "x.png"; Split = "train"; Objects = objects; Relationships = relationships 0.2 objects }

let private prog (steps: (Function * int list) list) = steps |> List.map (fun (f, i) -> { Function = f; Inputs = i })

/// scene → filter(a = v) → unique : steps 0..2
let private the a v = [ Scene, []; Filter(a, v), [ 0 ]; Unique, [ 1 ] ]

let private shifted (by: int) (steps: (Function * int list) list) = steps |> List.map (fun (f, i) -> f, List.map ((+) by) i)

let private answerIs expected steps = Expect.equal (answer handScene (prog steps)) (Ok expected) (sprintf "%A" (List.map fst steps))

let executorTests =
    testList "executor on a hand-built scene" [
        test "relationships follow CLEVR's rule" {
            Expect.equal (handScene.Relationships[Left]).[1] [ 0 ] "left of the sphere: the cube"
            Expect.equal (handScene.Relationships[Right]).[0] [ 1; 2 ] "right of the cube: sphere, cylinder"
            Expect.equal (handScene.Relationships[Front]).[0] [ 1 ] "in front of the cube: sphere"
            Expect.equal (handScene.Relationships[Behind]).[0] [ 2 ] "behind the cube: cylinder"
        }
        test "scene, count" { answerIs "3" [ Scene, []; Function.Count, [ 0 ] ] }
        test "filter_color" { answerIs "2" [ Scene, []; Filter(Color, "blue"), [ 0 ]; Function.Count, [ 1 ] ] }
        test "filter_size, exist" { answerIs "yes" [ Scene, []; Filter(Size, "small"), [ 0 ]; Function.Exist, [ 1 ] ] }
        test "filter_shape, filter_material, exist" {
            answerIs "no" [ Scene, []; Filter(Shape, "cube"), [ 0 ]; Filter(Material, "rubber"), [ 1 ]; Function.Exist, [ 2 ] ] }
        test "unique, query_color / shape / size / material" {
            answerIs "blue" (the Shape "sphere" @ [ Query Color, [ 2 ] ])
            answerIs "cylinder" [ Scene, []; Filter(Color, "blue"), [ 0 ]; Filter(Size, "large"), [ 1 ]; Unique, [ 2 ]; Query Shape, [ 3 ] ]
            answerIs "large" (the Color "red" @ [ Query Size, [ 2 ] ])
            answerIs "metal" (the Color "red" @ [ Query Material, [ 2 ] ])
        }
        test "unique fails on two objects" {
            Expect.isError (execute handScene (prog (the Color "blue" @ [ Query Shape, [ 2 ] ]))) "two blue objects"
        }
        test "relate left / right / front / behind" {
            answerIs "cube" (the Shape "sphere" @ [ Relate Left, [ 2 ]; Unique, [ 3 ]; Query Shape, [ 4 ] ])
            answerIs "2" (the Shape "cube" @ [ Relate Right, [ 2 ]; Function.Count, [ 3 ] ])
            answerIs "sphere" (the Shape "cube" @ [ Relate Front, [ 2 ]; Unique, [ 3 ]; Query Shape, [ 4 ] ])
            answerIs "cylinder" (the Shape "cube" @ [ Relate Behind, [ 2 ]; Unique, [ 3 ]; Query Shape, [ 4 ] ])
        }
        test "union, intersect" {
            answerIs "2" [ Scene, []; Filter(Color, "red"), [ 0 ]; Scene, []; Filter(Shape, "sphere"), [ 2 ]; Union, [ 1; 3 ]; Function.Count, [ 4 ] ]
            answerIs "1" [ Scene, []; Filter(Color, "blue"), [ 0 ]; Scene, []; Filter(Size, "large"), [ 2 ]; Intersect, [ 1; 3 ]; Function.Count, [ 4 ] ]
        }
        test "same_* excludes the object itself" {
            answerIs "cylinder" (the Shape "sphere" @ [ Same Color, [ 2 ]; Unique, [ 3 ]; Query Shape, [ 4 ] ])
            answerIs "cylinder" (the Shape "cube" @ [ Same Size, [ 2 ]; Unique, [ 3 ]; Query Shape, [ 4 ] ])
            answerIs "1" (the Shape "sphere" @ [ Same Material, [ 2 ]; Function.Count, [ 3 ] ])
            answerIs "0" (the Shape "cube" @ [ Same Shape, [ 2 ]; Function.Count, [ 3 ] ])
        }
        test "equal_* on attributes" {
            let pair a x y = the Shape x @ [ Query a, [ 2 ] ] @ shifted 4 (the Shape y) @ [ Query a, [ 6 ]; EqualAttribute a, [ 3; 7 ] ]
            answerIs "yes" (pair Color "sphere" "cylinder")
            answerIs "no" (pair Shape "sphere" "cylinder")
            answerIs "yes" (pair Size "cube" "cylinder")
            answerIs "no" (pair Material "cube" "sphere")
        }
        test "equal_integer, less_than, greater_than" {
            let compare f (a1, v1) (a2, v2) =
                [ Scene, []; Filter(a1, v1), [ 0 ]; Function.Count, [ 1 ]; Scene, []; Filter(a2, v2), [ 3 ]; Function.Count, [ 4 ]; f, [ 2; 5 ] ]
            answerIs "yes" (compare EqualInteger (Color, "blue") (Size, "large"))
            answerIs "yes" (compare LessThan (Color, "red") (Color, "blue"))
            answerIs "no" (compare GreaterThan (Color, "red") (Color, "blue"))
        }
        test "category and last function" {
            Expect.equal (category (prog [ Scene, []; Function.Count, [ 0 ] ])) (Some Category.Count) "count"
            Expect.equal (lastFunction (prog (the Color "red" @ [ Query Size, [ 2 ] ]))) (Some(LastQuery Size)) "query_size"
            Expect.equal (LastFunction.all.Length) 13 "13 subtypes"
            Expect.equal answers.Length 28 "28 answers"
        }
    ]

let tokenizerTests =
    testList "tokenizer and vocabulary" [
        test "lower case, punctuation as tokens" {
            Expect.equal (Vocabulary.tokenize "What color is the Cube; left?") [| "what"; "color"; "is"; "the"; "cube"; ";"; "left"; "?" |] "tokens"
        }
        test "unknown words map to UNK, ids stable after save/load" {
            let v = Vocabulary.build answers [ "Is there a cube?" ]
            Expect.equal (Vocabulary.encode v "is there a sphere?") [| 2; 3; 4; Vocabulary.unknownId; 6 |] "encode"
            let path = Path.GetTempFileName()
            Vocabulary.save path v
            Expect.equal (Vocabulary.load path) (Ok v) "round trip"
            File.Delete path
        }
    ]
