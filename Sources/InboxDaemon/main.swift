import Pipeline
import Store
import StatusAPI
print("inboxd")
