module Lnmn.Tests.StackTests
