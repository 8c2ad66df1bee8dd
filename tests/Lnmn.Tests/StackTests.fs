module Lnmn.Tests.StackTests

open Expecto
open TorchSharp
open Lnmn.Core.Network
open Lnmn.Tests.TestUtil

// A stack of L = 3 maps of 1×2: slot l holds [l+1, 10(l+1)].
let private stack () = tensorOf [| 3L; 1L; 2L |] [ 1.; 10.; 2.; 20.; 3.; 30. ]

[<Tests>]
let tests =
    testList "stack" [
        test "read is the pointer-weighted sum of the slots" {
            use _ = torch.NewDisposeScope()
            expectClose 1e-6 (Stack.read (stack ()) (tensorOf [| 3L |] [ 0.; 1.; 0. ])) [| 2.; 20. |] "one-hot reads slot 1"
            expectClose 1e-6 (Stack.read (stack ()) (tensorOf [| 3L |] [ 0.5; 0.25; 0.25 ])) [| 1.75; 17.5 |] "0.5·1 + 0.25·2 + 0.25·3"
        }
        test "write puts the map where the pointer is, softly" {
            use _ = torch.NewDisposeScope()
            let written = Stack.write (stack ()) (tensorOf [| 3L |] [ 0.; 0.5; 0.5 ]) (tensorOf [| 1L; 2L |] [ 7.; 70. ])
            expectClose 1e-6 written [| 1.; 10.; 4.5; 45.; 5.; 50. |] "slot 0 kept, slots 1, 2 half-replaced"
        }
        test "pop moves the pointer down, floored at the bottom; push moves it up, capped at the top" {
            use _ = torch.NewDisposeScope()
            let p = tensorOf [| 3L |] [ 0.2; 0.3; 0.5 ]
            expectClose 1e-6 (Stack.pop p) [| 0.5; 0.5; 0.0 |] "pop"
            expectClose 1e-6 (Stack.push p) [| 0.0; 0.2; 0.8 |] "push"
            expectClose 1e-6 (Stack.pop (Stack.bottomPointer 1L 3L torch.CPU)) [| 1.; 0.; 0. |] "pop at the bottom stays"
        }
        test "pointer ops keep leading (batch, module) dimensions" {
            use _ = torch.NewDisposeScope()
            let p = torch.rand(4L, 2L, 5L).softmax(-1L)
            Expect.equal (Stack.pop p).shape [| 4L; 2L; 5L |] "shape"
            expectAllClose 1e-6 ((Stack.pop p).sum(-1L)) (torch.ones(4L, 2L)) "pop keeps total mass"
            expectAllClose 1e-6 ((Stack.push p).sum(-1L)) (torch.ones(4L, 2L)) "push keeps total mass"
        }
    ]
