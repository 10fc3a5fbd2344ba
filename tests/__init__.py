"""The test suite. It and each of its folders are packages, so that test modules
of one name in different folders (rules/gait_test.py, nets/gait_test.py) coexist,
and every test imports the shared helpers as `tests.support`."""
