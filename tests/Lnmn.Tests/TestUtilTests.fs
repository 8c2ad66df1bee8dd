/// The comparisons every tensor test goes through must be able to fail.
module Lnmn.Tests.TestUtilTests

open Expecto
open TorchSharp
open Lnmn.Tests.TestUtil

let private fails (body: unit -> unit) message = Expect.throwsT<AssertException> body message

[<Tests>]
let tests =
    testList "test util" [
        test "expectClose fails on NaN and on infinities, on either side, and on a real difference" {
            use _ = torch.NewDisposeScope()
            let t (xs: float list) = tensorOf [| int64 xs.Length |] xs
            fails (fun () -> expectClose 1e-3 (t [ 1.0; nan ]) [| 1.0; 2.0 |] "NaN actual") "NaN actual"
            fails (fun () -> expectClose 1e-3 (t [ 1.0; 2.0 ]) [| 1.0; nan |] "NaN expected") "NaN expected"
            fails (fun () -> expectClose 1e-3 (t [ nan ]) [| nan |] "NaN against NaN") "NaN against NaN"
            fails (fun () -> expectClose 1e-3 (t [ infinity ]) [| infinity |] "Inf against Inf") "Inf against Inf"
            fails (fun () -> expectClose 1e-3 (t [ -infinity ]) [| -infinity |] "−Inf against −Inf") "−Inf against −Inf"
            fails (fun () -> expectClose 1e-3 (t [ 1.0 ]) [| infinity |] "finite against Inf") "finite against Inf"
            fails (fun () -> expectAllClose 1e-3 (t [ nan; nan ]) (t [ nan; nan ]) "all NaN") "expectAllClose, all NaN"
            fails (fun () -> expectClose 1e-3 (t [ 1.0 ]) [| 1.01 |] "off by 0.01") "a difference above the tolerance"
            expectClose 1e-3 (t [ 1.0; -2.0 ]) [| 1.0005; -2.0 |] "within the tolerance"
        }
    ]
